/**
 * The lease and Redis writes across a real Redis restart (a fresh, empty redis-server on the same
 * port): the leader re-takes its vanished lease before a follower may, and a write issued while
 * Redis is down lands once it is back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ClusterKeys } from '../src/cluster/keys';
import { LeaderLease } from '../src/cluster/lease';
import { connectRedis } from '../src/cluster/redis-client';
import type { RedisConnections } from '../src/cluster/redis-client';
import { untilLanded } from '../src/cluster/rounds';
import { startRedis } from '../../../scripts/cluster-fleet/harness';
import type { RedisProcess } from '../../../scripts/cluster-fleet/harness';

let redis: RedisProcess;
let ra: RedisConnections;
let rb: RedisConnections;
const keys = new ClusterKeys('restart');
const quiet = () => {};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a Redis restart', { timeout: 60_000 }, () => {
  before(async () => {
    redis = await startRedis();
    ra = await connectRedis(redis.url, quiet);
    rb = await connectRedis(redis.url, quiet);
  });
  after(async () => {
    await ra?.close();
    await rb?.close();
    await redis?.stop();
  });

  it('leaves the lease with a leader that still heartbeats; a dead one\'s is taken after two ticks', async () => {
    const ttlMs = 3000;
    let aAlive = true;
    const a = new LeaderLease(ra, keys, 'a', { renewMs: 600, ttlMs }, quiet, () => false);
    const b = new LeaderLease(rb, keys, 'b', { renewMs: 600, ttlMs }, quiet, (id) => id === 'a' && aAlive);
    await a.tick();
    await a.tick();
    await a.tick();
    assert.equal(a.isLeader, true);
    await b.tick();
    assert.equal(await b.holder(), 'a');
    await redis.restart();
    // B sees the key missing on several ticks, but A still heartbeats: B waits.
    for (let i = 0; i < 4; i++) {
      await b.tick().catch(() => {});
      await sleep(150);
    }
    assert.equal(b.isLeader, false, 'a follower does not take the lease of a live leader right after a restart');
    await a.tick();
    assert.equal(a.isLeader, true);
    assert.equal(await b.holder(), 'a', 'the leader re-took its lease');
    // A dies: its key expires, B takes it after two ticks.
    aAlive = false;
    await rb.cmd.del(keys.leader);
    await b.tick();
    await b.tick();
    assert.equal(b.isLeader, true);
    await b.stop();
  });

  it('a write issued while Redis is down is retried until it lands', async () => {
    await redis.stop();
    const write = untilLanded('test write', () => ra.cmd.set('tabfleet:restart:probe', 'landed'), () => false, quiet);
    await sleep(500);
    await redis.restart();
    await write;
    assert.equal(await rb.cmd.get('tabfleet:restart:probe'), 'landed');
  });
});
