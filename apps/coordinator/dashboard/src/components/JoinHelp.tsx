/** How a phone joins: the device URL as text and as a QR code (the join token only for admins). */
import QRCode from 'qrcode';
import { memo, useEffect, useRef, useState } from 'react';

interface JoinHelpProps {
  readonly deviceUrl: string;
  readonly hasToken: boolean;
  /** SHA-256 fingerprint of the HTTPS certificate; null on plain HTTP. */
  readonly fingerprint: string | null;
}

export const JoinHelp = memo(function JoinHelp({ deviceUrl, hasToken, fingerprint }: JoinHelpProps) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!canvasRef.current || !deviceUrl) return;
    QRCode.toCanvas(canvasRef.current, deviceUrl, { width: 168, margin: 1, errorCorrectionLevel: 'M' }).then(
      () => setError(null),
      (err: Error) => setError(err.message),
    );
  }, [deviceUrl]);

  return (
    <section className="card join" aria-label="join help">
      <h2>Join from a phone</h2>
      <canvas ref={canvasRef} data-testid="join-qr" aria-label="QR code of the device URL" />
      {error ? <p className="error">{error}</p> : null}
      <p>
        Open{' '}
        <a href={deviceUrl} className="mono" data-testid="device-url">
          {deviceUrl}
        </a>{' '}
        on a phone or laptop on the same network, or scan the code.
      </p>
      {fingerprint ? (
        <p className="muted" data-testid="tls-fingerprint">
          Certificate SHA-256: <span className="mono">{fingerprint}</span> — check that the phone shows the same before trusting it.
        </p>
      ) : deviceUrl.startsWith('http://') ? (
        <p className="muted" data-testid="tls-missing">
          Plain HTTP: phones get no WebGPU, no multi-threaded wasm and no wake lock here. Start the coordinator with --https.
        </p>
      ) : null}
      {hasToken ? (
        <p className="muted">The link carries the join token: share it only with the people whose devices should take part.</p>
      ) : (
        <p className="muted">Read-only view: the join token is shown to admins only. Add it as ?token=… from the coordinator's console output.</p>
      )}
    </section>
  );
});
