/**
 * A revocation on one node of a cluster (real redis-server, two coordinator processes) closes the
 * device's socket on the other node, and every node refuses the device afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PROTOCOL_VERSION } from '../src/core';
import { startNode, startRedis } from '../../../scripts/cluster-fleet/harness';
import type { NodeProcess, RedisProcess } from '../../../scripts/cluster-fleet/harness';
import { next, openSocket } from './support/fakes';
import type { DeviceClient } from './support/fakes';

const TASK = { numBlocks: 4, width: 16, numClasses: 6, seed: 5 };
const TOKEN = 'cluster-revoke-token';
let redis: RedisProcess;
const nodes: NodeProcess[] = [];

async function joinOwnData(url: string, deviceId: string): Promise<DeviceClient> {
  const socket = openSocket(url);
  const welcome = next(socket, 'welcome', 10_000);
  socket.emit('hello', { protocolVersion: PROTOCOL_VERSION, token: TOKEN, deviceId, dataMode: 'own' });
  await welcome;
  const joined = next(socket, 'joined', 10_000);
  socket.emit('join', {
    protocolVersion: PROTOCOL_VERSION,
    token: TOKEN,
    deviceId,
    dataMode: 'own',
    backend: { name: 'cpu', forced: true, benchmarkMs: { cpu: 20 } },
    profile: { msPerStep: [10, 20, 30, 40], uploadBytesPerSec: 5e6, memoryBytes: 1e9 },
    labelHistogram: [10, 10, 10, 0, 0, 0],
    numSamples: 30,
  });
  await joined;
  return socket;
}

describe('cluster revocation', () => {
  before(async () => {
    redis = await startRedis();
    const settings = (nodeId: string) => ({
      redisUrl: redis.url,
      cluster: 'revoke',
      nodeId,
      token: TOKEN,
      task: TASK,
      // More devices expected than the test brings: no round starts, the devices only sit joined.
      run: { strategy: 'hierfedlora' as const, rounds: 1, devicesExpected: 10, localSteps: 2, roundTimeoutS: 60, robust: 'mean' as const, clipNorm: null, seed: 5 },
      quiet: true,
    });
    nodes.push(...(await Promise.all([startNode(settings('a')), startNode(settings('b'))])));
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await redis?.stop();
  });

  it("revoked on node A: the device's socket on node B is told why and closed; no node admits it again", async () => {
    const [a, b] = nodes as [NodeProcess, NodeProcess];
    const victim = await joinOwnData(b.url, 'revoke-victim-01');
    const bystander = await joinOwnData(b.url, 'revoke-bystander-01');
    try {
      const told = next(victim, 'serverError', 15_000);
      const closed = new Promise<string>((resolve) => victim.once('disconnect', (reason) => resolve(reason)));
      const res = await fetch(`${a.url}/api/admin/devices/revoke`, {
        method: 'POST',
        headers: { Authorization: 'Bearer cluster-admin-token', 'Content-Type': 'application/json' },
        body: JSON.stringify({ deviceId: 'revoke-victim-01' }),
      });
      assert.equal(res.status, 200, await res.text());
      const error = await told;
      assert.equal(error.code, 'revoked');
      assert.equal(await closed, 'io server disconnect');
      assert.ok(bystander.connected, 'the other device on node B stays connected');
      // A new hello as the revoked device is refused on either node.
      for (const node of [a, b]) {
        const again = openSocket(node.url);
        try {
          const refused = next(again, 'serverError', 10_000);
          again.emit('hello', { protocolVersion: PROTOCOL_VERSION, token: TOKEN, deviceId: 'revoke-victim-01', dataMode: 'own' });
          assert.equal((await refused).code, 'revoked', `node ${node.nodeId}`);
        } finally {
          again.close();
        }
      }
    } finally {
      victim.close();
      bystander.close();
    }
  });
});
