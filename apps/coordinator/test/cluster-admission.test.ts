/**
 * Cluster-wide admission on a real redis-server, with two nodes (two ClusterNodes, each with its
 * own Redis connections): key bindings, revocations and fleet slots hold across nodes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ClusterNode } from '../src/cluster/node';
import { hashDeviceKey } from '../src/registry';
import { startRedis } from '../../../scripts/cluster-fleet/harness';
import type { RedisProcess } from '../../../scripts/cluster-fleet/harness';

let redis: RedisProcess;
let a: ClusterNode;
let b: ClusterNode;
const RUN = 'run-admission';

describe('cluster admission (one Lua script per hello)', () => {
  before(async () => {
    redis = await startRedis();
    const opts = { redisUrl: redis.url, cluster: 'admission', log: () => {} };
    a = await ClusterNode.connect({ ...opts, nodeId: 'a' });
    b = await ClusterNode.connect({ ...opts, nodeId: 'b' });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
  });

  it('a device id bound to a key on node A cannot be claimed with another key on node B', async () => {
    const onA = a.admission(RUN);
    const onB = b.admission(RUN);
    assert.deepEqual(await onA.admit('dev-1', hashDeviceKey('key-1'), undefined), { ok: true });
    assert.deepEqual(await onB.admit('dev-1', hashDeviceKey('key-2'), undefined), { ok: false, code: 'bad-key' });
    assert.deepEqual(await onB.admit('dev-1', undefined, undefined), { ok: false, code: 'bad-key' });
    assert.deepEqual(await onB.admit('dev-1', hashDeviceKey('key-1'), undefined), { ok: true });
  });

  it('a device revoked on node A is refused on node B', async () => {
    const onB = b.admission(RUN);
    assert.deepEqual(await onB.admit('dev-2', hashDeviceKey('k'), undefined), { ok: true });
    await a.revoke('dev-2');
    assert.deepEqual(await onB.admit('dev-2', hashDeviceKey('k'), undefined), { ok: false, code: 'revoked' });
    assert.deepEqual(await a.admission(RUN).admit('dev-2', hashDeviceKey('k'), undefined), { ok: false, code: 'revoked' });
  });

  it('fleet slots are never given twice, whichever node the hellos land on', async () => {
    const numPartitions = 30;
    const nodes = [a.admission(RUN), b.admission(RUN)];
    const ids = Array.from({ length: 40 }, (_, i) => `tab-${i}`);
    const verdicts = await Promise.all(ids.map((id, i) => nodes[i % 2]!.admit(id, hashDeviceKey(`key-${id}`), { numPartitions, newKey: `slot-key-${id}` })));
    const given = verdicts.flatMap((v, i) => (v.ok && v.slot ? [{ id: ids[i]!, ...v.slot }] : []));
    assert.equal(given.length, numPartitions);
    assert.equal(new Set(given.map((g) => g.index)).size, numPartitions, 'every slot index once');
    assert.deepEqual([...new Set(given.map((g) => g.index))].sort((x, y) => x - y), Array.from({ length: numPartitions }, (_, i) => i));
    assert.equal(verdicts.filter((v) => !v.ok && v.code === 'full').length, ids.length - numPartitions);
    // A tab that comes back on the other node keeps its slot and its slot key.
    const first = given[0]!;
    const idx = ids.indexOf(first.id);
    const again = await nodes[(idx + 1) % 2]!.admit(first.id, hashDeviceKey(`key-${first.id}`), { numPartitions, newKey: 'another' });
    assert.deepEqual(again, { ok: true, slot: { index: first.index, key: first.key } });
  });
});
