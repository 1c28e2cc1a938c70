/**
 * A self-signed X.509 certificate (ECDSA P-256, SHA-256) for the coordinator's HTTPS, made with
 * node:crypto alone. It names every host a device may use (localhost, 127.0.0.1, the LAN
 * addresses) in subjectAltName, and is its own CA (basicConstraints cA) so a phone can install it
 * as a trusted certificate.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { bitString, boolean, explicit, implicit, octetString, oid, sequence, set, smallInteger, time, unsignedInteger, utf8String } from './der';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const COMMON_NAME = '2.5.4.3';
const BASIC_CONSTRAINTS = '2.5.29.19';
const KEY_USAGE = '2.5.29.15';
const EXT_KEY_USAGE = '2.5.29.37';
const SUBJECT_ALT_NAME = '2.5.29.17';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

/** Browsers refuse leaf certificates valid for longer than 398 days. */
export const SELF_SIGNED_DAYS = 397;

export interface SelfSigned {
  readonly certPem: string;
  readonly keyPem: string;
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand "::" and write 8 big-endian 16-bit groups.
  const [head = '', tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') && tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

/** hosts: DNS names and IP addresses the certificate must cover (at least one). */
export function makeSelfSigned(hosts: readonly string[], commonName = 'tabfleet coordinator', now = new Date()): SelfSigned {
  if (hosts.length === 0) throw new Error('a certificate needs at least one host name or address');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const name = sequence(set(sequence(oid(COMMON_NAME), utf8String(commonName))));
  const algorithm = sequence(oid(ECDSA_WITH_SHA256));
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f;
  const notBefore = new Date(now.getTime() - 60 * 60 * 1000);
  const notAfter = new Date(now.getTime() + SELF_SIGNED_DAYS * 24 * 60 * 60 * 1000);
  const altNames = hosts.map((h) => (isIP(h) ? implicit(7, ipBytes(h)) : implicit(2, Buffer.from(h, 'ascii'))));
  const extensions = sequence(
    extension(BASIC_CONSTRAINTS, true, sequence(boolean(true))),
    // digitalSignature (bit 0) and keyCertSign (bit 5): 1000 0100, 2 unused bits.
    extension(KEY_USAGE, true, bitString(Buffer.from([0x84]), 2)),
    extension(EXT_KEY_USAGE, false, sequence(oid(SERVER_AUTH))),
    extension(SUBJECT_ALT_NAME, false, sequence(...altNames)),
  );
  const tbs = sequence(
    explicit(0, smallInteger(2)),
    unsignedInteger(serial),
    algorithm,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, extensions),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = sequence(tbs, algorithm, bitString(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { certPem, keyPem };
}

/** SHA-256 fingerprint as browsers show it (AB:CD:…). Throws on anything that is not a PEM certificate. */
export function fingerprint256(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** Whether `keyPem` is the private key of `certPem`. */
export function keyMatchesCert(certPem: string, keyPem: string): boolean {
  const cert = new X509Certificate(certPem);
  return cert.checkPrivateKey(createPrivateKey(keyPem)) && cert.publicKey.equals(createPublicKey(createPrivateKey(keyPem)));
}
