/**
 * Admin: single-use invite links (POST /api/admin/invites), each with its QR code. An invite admits
 * one device (the first that says hello with it; that device may come back). The coordinator keeps
 * only hashes, so the links are shown here once, in this page; the counts come from the server.
 */
import QRCode from 'qrcode';
import { memo, useCallback, useEffect, useRef, useState } from 'react';

interface Invite {
  readonly invite: string;
  readonly url: string;
}

interface Counts {
  readonly issued: number;
  readonly used: number;
}

export const MAX_INVITES_AT_ONCE = 50;

async function adminJson<T>(adminToken: string, method: 'GET' | 'POST', body?: unknown): Promise<T> {
  const res = await fetch('/api/admin/invites', {
    method,
    headers: { Authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (!res.ok) throw new Error(json.error ?? `HTTP ${res.status}`);
  return json;
}

/** `count` from the input: an integer in [1, MAX_INVITES_AT_ONCE], or an error sentence. */
export function parseInviteCount(raw: string): { ok: true; count: number } | { ok: false; error: string } {
  const n = Number(raw.trim());
  if (!(Number.isInteger(n) && n >= 1 && n <= MAX_INVITES_AT_ONCE)) return { ok: false, error: `enter a whole number from 1 to ${MAX_INVITES_AT_ONCE}` };
  return { ok: true, count: n };
}

const InviteQr = memo(function InviteQr({ url }: { url: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (ref.current) void QRCode.toCanvas(ref.current, url, { width: 132, margin: 1, errorCorrectionLevel: 'M' }).catch(() => {});
  }, [url]);
  return <canvas ref={ref} aria-label="QR code of the invite link" data-testid="invite-qr" />;
});

export function InvitePanel({ adminToken }: { adminToken: string }) {
  const [count, setCount] = useState('1');
  const [invites, setInvites] = useState<Invite[]>([]);
  const [counts, setCounts] = useState<Counts | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const refresh = useCallback(() => {
    adminJson<Counts>(adminToken, 'GET').then(setCounts, (e: Error) => setError(e.message));
  }, [adminToken]);
  useEffect(() => {
    refresh();
    const t = setInterval(refresh, 10_000);
    return () => clearInterval(t);
  }, [refresh]);

  const issue = () => {
    const parsed = parseInviteCount(count);
    if (!parsed.ok) {
      setError(parsed.error);
      return;
    }
    setBusy(true);
    adminJson<{ invites: Invite[] }>(adminToken, 'POST', { count: parsed.count })
      .then(
        (r) => {
          setInvites((old) => [...r.invites, ...old]);
          setError(null);
          refresh();
        },
        (e: Error) => setError(e.message),
      )
      .finally(() => setBusy(false));
  };

  return (
    <section className="card invites" aria-label="invites">
      <h2>Invite links</h2>
      <p className="muted">
        Each link admits one device, once (that device may come back). Shown only here, once: the coordinator keeps their hashes, not the links.
        {counts ? (
          <span data-testid="invite-counts">
            {' '}
            {counts.issued} issued, {counts.used} used.
          </span>
        ) : null}
      </p>
      <div className="invite-form">
        <label>
          how many{' '}
          <input type="number" min={1} max={MAX_INVITES_AT_ONCE} value={count} onChange={(e) => setCount(e.target.value)} data-testid="invite-count" />
        </label>
        <button type="button" disabled={busy} onClick={issue} data-testid="issue-invites">
          Issue invites
        </button>
      </div>
      {error ? (
        <p className="error" data-testid="invite-error">
          {error}
        </p>
      ) : null}
      <ul className="invite-list">
        {invites.map((i) => (
          <li key={i.invite} data-testid="invite">
            <InviteQr url={i.url} />
            <a href={i.url} className="mono" data-testid="invite-url">
              {i.url}
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}
