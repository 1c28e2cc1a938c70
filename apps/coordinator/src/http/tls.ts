/**
 * The coordinator's TLS material for --https: the operator's certificate and key (--cert, --key,
 * e.g. made with mkcert), or a self-signed one generated once and kept in the data folder. A kept
 * certificate is made again when it expires soon or no longer names every host devices use (the
 * LAN address changed).
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { fingerprint256, keyMatchesCert, makeSelfSigned } from './self-signed';

export interface TlsMaterial {
  readonly certPem: string;
  readonly keyPem: string;
  /** SHA-256 fingerprint (AB:CD:…), what a person compares on the phone before trusting it. */
  readonly fingerprint: string;
  /** 'operator': --cert/--key; 'generated': made now; 'kept': the one made earlier, from the data folder. */
  readonly source: 'operator' | 'generated' | 'kept';
  /** Where the certificate file is (what a person copies to the phone). */
  readonly certPath: string;
}

export class TlsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsError';
  }
}

const RENEW_BEFORE_MS = 7 * 24 * 60 * 60 * 1000;

function readPem(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TlsError(`cannot read the ${what} ${path}: ${(err as Error).message}`);
  }
  return text;
}

/** Whether a kept certificate still serves: parses, matches its key, is not about to expire, names every host. */
function stillGood(certPem: string, keyPem: string, hosts: readonly string[], now: number): boolean {
  try {
    const cert = new X509Certificate(certPem);
    if (Date.parse(cert.validTo) - now < RENEW_BEFORE_MS || Date.parse(cert.validFrom) > now) return false;
    if (!keyMatchesCert(certPem, keyPem)) return false;
    return hosts.every((h) => (isIP(h) ? cert.checkIP(h) !== undefined : cert.checkHost(h) !== undefined));
  } catch {
    return false;
  }
}

export function loadOperatorTls(certPath: string, keyPath: string): TlsMaterial {
  const certPem = readPem(certPath, 'certificate (--cert)');
  const keyPem = readPem(keyPath, 'key (--key)');
  let fingerprint: string;
  try {
    fingerprint = fingerprint256(certPem);
  } catch (err) {
    throw new TlsError(`--cert ${certPath} is not a PEM certificate: ${(err as Error).message}`);
  }
  let matches: boolean;
  try {
    matches = keyMatchesCert(certPem, keyPem);
  } catch (err) {
    throw new TlsError(`--key ${keyPath} is not a PEM private key: ${(err as Error).message}`);
  }
  if (!matches) throw new TlsError(`--key ${keyPath} is not the private key of --cert ${certPath}`);
  return { certPem, keyPem, fingerprint, source: 'operator', certPath };
}

/** The self-signed certificate in `dir` (tls-cert.pem, tls-key.pem), made when missing or stale. */
export function selfSignedTls(dir: string, hosts: readonly string[], now = Date.now()): TlsMaterial {
  const certPath = join(dir, 'tls-cert.pem');
  const keyPath = join(dir, 'tls-key.pem');
  let kept: { certPem: string; keyPem: string } | undefined;
  try {
    kept = { certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') };
  } catch {
    kept = undefined;
  }
  if (kept && stillGood(kept.certPem, kept.keyPem, hosts, now)) {
    return { ...kept, fingerprint: fingerprint256(kept.certPem), source: 'kept', certPath };
  }
  const made = makeSelfSigned(hosts, 'tabfleet coordinator', new Date(now));
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(keyPath, made.keyPem, { mode: 0o600 });
    writeFileSync(certPath, made.certPem);
  } catch (err) {
    throw new TlsError(`cannot keep the generated certificate in ${dir}: ${(err as Error).message}`);
  }
  return { ...made, fingerprint: fingerprint256(made.certPem), source: 'generated', certPath };
}
