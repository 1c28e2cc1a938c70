import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { oid, time, unsignedInteger } from '../src/http/der';
import { fingerprint256, makeSelfSigned, SELF_SIGNED_DAYS } from '../src/http/self-signed';
import { loadOperatorTls, selfSignedTls, TlsError } from '../src/http/tls';

describe('DER', () => {
  it('encodes OIDs, integers and times as X.509 wants them', () => {
    assert.equal(oid('1.2.840.10045.4.3.2').toString('hex'), '06082a8648ce3d040302');
    assert.equal(unsignedInteger(Buffer.from([0x00, 0x00, 0x7f])).toString('hex'), '02017f');
    assert.equal(unsignedInteger(Buffer.from([0x80])).toString('hex'), '02020080');
    assert.equal(time(new Date('2026-12-01T23:15:04Z')).toString('ascii').slice(2), '261201231504Z');
    assert.equal(time(new Date('2051-01-01T00:00:00Z'))[0], 0x18);
  });
});

describe('self-signed certificate', () => {
  it('is a valid P-256 certificate for every host given, signed by its own key', () => {
    const now = new Date('2026-12-01T00:00:00Z');
    const s = makeSelfSigned(['localhost', '127.0.0.1', '192.168.1.20', '::1'], 'tabfleet coordinator', now);
    const cert = new X509Certificate(s.certPem);
    assert.ok(cert.verify(cert.publicKey));
    assert.ok(cert.ca);
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkIP('192.168.1.20'), '192.168.1.20');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.equal(cert.checkIP('10.0.0.1'), undefined);
    const days = (Date.parse(cert.validTo) - now.getTime()) / 86_400_000;
    assert.ok(days <= SELF_SIGNED_DAYS && days > SELF_SIGNED_DAYS - 1, `valid ${days} days`);
    assert.match(fingerprint256(s.certPem), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('serves TLS that a client pinned to it accepts', async () => {
    const s = makeSelfSigned(['localhost', '127.0.0.1']);
    const server = createServer({ cert: s.certPem, key: s.keyPem }, (_req, res) => res.end('hello'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: s.certPem, servername: 'localhost' }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.end();
      });
      assert.equal(body, 'hello');
    } finally {
      server.close();
    }
  });
});

describe('TLS material', () => {
  it('keeps the self-signed certificate across starts, and makes a new one when a host is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabfleet-tls-'));
    try {
      const first = selfSignedTls(dir, ['localhost', '127.0.0.1']);
      assert.equal(first.source, 'generated');
      const again = selfSignedTls(dir, ['localhost', '127.0.0.1']);
      assert.equal(again.source, 'kept');
      assert.equal(again.fingerprint, first.fingerprint);
      const moved = selfSignedTls(dir, ['localhost', '127.0.0.1', '192.168.7.7']);
      assert.equal(moved.source, 'generated');
      assert.notEqual(moved.fingerprint, first.fingerprint);
      // Expiring soon: made again.
      const later = selfSignedTls(dir, ['localhost'], Date.now() + (SELF_SIGNED_DAYS - 1) * 86_400_000);
      assert.equal(later.source, 'generated');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes the operator's certificate and key, and says clearly what is wrong with bad ones", () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabfleet-tls-'));
    try {
      const a = makeSelfSigned(['localhost']);
      const b = makeSelfSigned(['localhost']);
      writeFileSync(join(dir, 'a.pem'), a.certPem);
      writeFileSync(join(dir, 'a.key'), a.keyPem);
      writeFileSync(join(dir, 'b.key'), b.keyPem);
      writeFileSync(join(dir, 'junk.pem'), 'not a certificate');
      const ok = loadOperatorTls(join(dir, 'a.pem'), join(dir, 'a.key'));
      assert.equal(ok.source, 'operator');
      assert.equal(ok.fingerprint, fingerprint256(readFileSync(join(dir, 'a.pem'), 'utf8')));
      assert.throws(() => loadOperatorTls(join(dir, 'a.pem'), join(dir, 'b.key')), (e: Error) => e instanceof TlsError && /is not the private key of --cert/.test(e.message));
      assert.throws(() => loadOperatorTls(join(dir, 'junk.pem'), join(dir, 'a.key')), /is not a PEM certificate/);
      assert.throws(() => loadOperatorTls(join(dir, 'a.pem'), join(dir, 'missing.key')), /cannot read the key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
