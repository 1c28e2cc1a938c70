/** --trust-proxy: behind a listed reverse proxy the per-address limits key on X-Forwarded-For; otherwise on the socket address. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io as connect } from 'socket.io-client';
import { createStrategy, PROTOCOL_VERSION } from '../src/core';
import { parseCoordinatorArgs } from '../src/config';
import { requestAddress } from '../src/connection-limits';
import { startCoordinator } from '../src/server';
import type { RunConfig, RunningCoordinator } from '../src/server';
import { MemoryState } from '../src/state';
import { PROBE_BURST } from '../src/http/request-limits';
import { fakeTask, next } from './support/fakes';
import type { DeviceClient } from './support/fakes';

const TOKEN = 'proxy-token';
const base: RunConfig = {
  port: 0,
  host: '127.0.0.1',
  token: TOKEN,
  adminToken: 'proxy-admin',
  rounds: 1,
  devicesExpected: 2,
  seed: 1,
  batchSize: 2,
  learningRate: 0.1,
  headLearningRate: 0.05,
  roundTimeoutMs: 30_000,
  normBoundFactor: null,
};

describe('requestAddress', () => {
  it('ignores X-Forwarded-For unless the peer is a listed proxy', () => {
    assert.equal(requestAddress('::ffff:10.0.0.9', '1.2.3.4', []), '10.0.0.9');
    assert.equal(requestAddress('10.0.0.9', '1.2.3.4', ['10.0.0.1']), '10.0.0.9');
    assert.equal(requestAddress('10.0.0.1', undefined, ['10.0.0.1']), '10.0.0.1');
  });

  it('behind a listed proxy: the rightmost entry that is not a listed proxy (what the client wrote on the left proves nothing)', () => {
    assert.equal(requestAddress('::ffff:10.0.0.1', '1.2.3.4', ['10.0.0.1']), '1.2.3.4');
    assert.equal(requestAddress('10.0.0.1', '6.6.6.6, 1.2.3.4', ['10.0.0.1']), '1.2.3.4');
    assert.equal(requestAddress('10.0.0.1', '6.6.6.6, 1.2.3.4, 10.0.0.2', ['10.0.0.1', '10.0.0.2']), '1.2.3.4');
    assert.equal(requestAddress('10.0.0.1', ['6.6.6.6', '1.2.3.4'], ['10.0.0.1']), '1.2.3.4');
    assert.equal(requestAddress('10.0.0.1', '::ffff:1.2.3.4', ['10.0.0.1']), '1.2.3.4');
  });

  it('--trust-proxy takes comma-separated IP addresses', () => {
    assert.deepEqual(parseCoordinatorArgs([]).trustedProxies, []);
    assert.deepEqual(parseCoordinatorArgs(['--trust-proxy', '127.0.0.1, ::1']).trustedProxies, ['127.0.0.1', '::1']);
    assert.throws(() => parseCoordinatorArgs(['--trust-proxy', 'proxy.local']), /--trust-proxy takes IP addresses/);
    assert.throws(() => parseCoordinatorArgs(['--trust-proxy', ',']), /at least one address/);
  });
});

for (const trusted of [true, false]) {
  describe(`a coordinator ${trusted ? 'behind a trusted proxy (127.0.0.1)' : 'without --trust-proxy'}`, () => {
    let coordinator: RunningCoordinator;
    const sockets: DeviceClient[] = [];
    before(async () => {
      coordinator = await startCoordinator({
        config: { ...base, maxDevicesPerAddress: 1, ...(trusted ? { trustedProxies: ['127.0.0.1'] } : {}) },
        strategy: createStrategy('fedlora', { planner: { localSteps: 2 } }),
        task: fakeTask([2, 2, 2, 2]),
        state: new MemoryState(),
      });
    });
    after(async () => {
      for (const s of sockets) s.close();
      await coordinator.close();
    });

    it(`devices per address key on ${trusted ? 'X-Forwarded-For' : 'the socket address'}`, async () => {
      const answers: string[] = [];
      for (const [i, client] of ['1.2.3.4', '5.6.7.8'].entries()) {
        const s = connect(coordinator.localUrl, { transports: ['websocket'], reconnection: false, forceNew: true, extraHeaders: { 'X-Forwarded-For': client } }) as DeviceClient;
        sockets.push(s);
        const got = Promise.race([next(s, 'welcome').then(() => 'welcome'), next(s, 'serverError').then((e) => e.code)]);
        s.emit('hello', { protocolVersion: PROTOCOL_VERSION, token: TOKEN, deviceId: `dev-proxied-${i}`, dataMode: 'own' });
        answers.push(await got);
      }
      assert.deepEqual(answers, trusted ? ['welcome', 'welcome'] : ['welcome', 'too-many-devices']);
    });

    it(`the bandwidth probe's rate limit keys on ${trusted ? 'X-Forwarded-For' : 'the socket address'}`, async () => {
      const probe = (client: string) =>
        fetch(`${coordinator.localUrl}/api/probe/upload`, { method: 'POST', body: new Uint8Array(16), headers: { 'X-Forwarded-For': client } }).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        });
      const first: number[] = [];
      for (let i = 0; i < PROBE_BURST; i++) first.push(await probe('1.2.3.4'));
      assert.ok(first.every((s) => s === 200));
      assert.equal(await probe('1.2.3.4'), 429);
      assert.equal(await probe('5.6.7.8'), trusted ? 200 : 429);
    });
  });
}
