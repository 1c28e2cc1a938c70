/** Read-only notice with a token field, or the admin badge with a way to drop the token. */
import { useState } from 'react';

interface AdminAccessProps {
  readonly admin: boolean;
  readonly tokenRefused: boolean;
  readonly onToken: (token: string | null) => void;
}

export function AdminAccess({ admin, tokenRefused, onToken }: AdminAccessProps) {
  const [draft, setDraft] = useState('');
  if (admin) {
    return (
      <div className="access" data-testid="admin-badge">
        <span className="pill admin">admin</span>
        <button type="button" className="small secondary" onClick={() => onToken(null)}>
          Forget token
        </button>
      </div>
    );
  }
  return (
    <form
      className="access"
      data-testid="read-only-notice"
      onSubmit={(e) => {
        e.preventDefault();
        if (draft.trim()) onToken(draft.trim());
        setDraft('');
      }}
    >
      <span className="pill">read-only</span>
      {tokenRefused ? <span className="error inline">The admin token was refused.</span> : <span className="muted">Controls need the admin token.</span>}
      <input type="password" placeholder="admin token" aria-label="admin token" value={draft} onChange={(e) => setDraft(e.target.value)} autoComplete="off" />
      <button type="submit" className="small">
        Unlock
      </button>
    </form>
  );
}
