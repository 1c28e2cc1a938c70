/** Upload decoding on the coordinator: a payload that is its own buffer is viewed, a slice of a shared one is copied out. */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { Server } from 'socket.io';
import { io as connect } from 'socket.io-client';
import { encodeAdapter } from '../src/core';
import type { AdapterState, NamedArray } from '../src/core';
import { decodeUpload, ownsItsBuffer } from '../src/engine/upload-decode';

function delta(values: number): AdapterState {
  const data = Float32Array.from({ length: values }, (_, i) => i / values);
  return new Map([['3', new Map<string, NamedArray>([['A', { shape: [values], data }]])]]);
}

describe('decodeUpload', () => {
  it('views a payload that spans its whole buffer (no copy)', () => {
    const payload = new Uint8Array(encodeAdapter(delta(1024)));
    assert.ok(ownsItsBuffer(payload));
    const decoded = decodeUpload(payload, 1 << 20).get('3')!.get('A')!;
    assert.equal(decoded.data.buffer, payload.buffer);
    assert.equal(decoded.data[5], 5 / 1024);
  });

  it('copies a payload that is a slice of a larger buffer, so the tensors pin nothing else', () => {
    const bytes = new Uint8Array(encodeAdapter(delta(1024)));
    const slab = new Uint8Array(bytes.byteLength + 64);
    slab.set(bytes, 16);
    const payload = slab.subarray(16, 16 + bytes.byteLength);
    assert.ok(!ownsItsBuffer(payload));
    const decoded = decodeUpload(payload, 1 << 20).get('3')!.get('A')!;
    assert.notEqual(decoded.data.buffer, slab.buffer);
    assert.equal(decoded.data.buffer.byteLength, 4 * 1024);
    slab.fill(0);
    assert.equal(decoded.data[5], 5 / 1024, 'a copy: clearing the slab does not change it');
  });

  it('enforces the size limit either way', () => {
    assert.throws(() => decodeUpload(new Uint8Array(encodeAdapter(delta(1024))), 1000), /exceeds the limit/);
  });

  it('over real Socket.IO, an upload above the socket read size arrives as its own buffer (viewed, not copied)', async () => {
    const http = createServer();
    const io = new Server(http, { transports: ['websocket'], maxHttpBufferSize: 4 << 20 });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const received = new Promise<Uint8Array>((resolve) => io.on('connection', (s) => s.on('upload', (m: { payload: Uint8Array }) => resolve(m.payload))));
    const client = connect(`http://127.0.0.1:${(http.address() as AddressInfo).port}`, { transports: ['websocket'], forceNew: true, reconnection: false });
    try {
      const sent = new Uint8Array(encodeAdapter(delta(64 * 1024)));
      client.emit('upload', { payload: sent });
      const payload = await received;
      assert.equal(payload.byteLength, sent.byteLength);
      assert.ok(ownsItsBuffer(payload), `payload at offset ${payload.byteOffset} of a ${payload.buffer.byteLength}-byte buffer`);
      assert.equal(decodeUpload(payload, 1 << 20).get('3')!.get('A')!.data.buffer, payload.buffer);
    } finally {
      client.close();
      await io.close();
    }
  });
});
