/** The cluster's pure parts: group ownership by rendezvous hash, key names, and the CLI flags. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rendezvousOwner } from '../src/cluster/rendezvous';
import { ClusterKeys } from '../src/cluster/keys';
import { groupJobSchema, parseJson } from '../src/cluster/jobs';
import { ConfigError, parseCoordinatorArgs } from '../src/config';

describe('rendezvous ownership', () => {
  const groups = Array.from({ length: 600 }, (_, i) => `g${i}`);
  const nodes = ['n1', 'n2', 'n3'];

  it('is independent of the order of the node list, and spreads groups over the nodes', () => {
    const counts = new Map<string, number>();
    for (const g of groups) {
      const owner = rendezvousOwner(g, nodes)!;
      assert.equal(rendezvousOwner(g, [...nodes].reverse()), owner);
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    for (const n of nodes) assert.ok((counts.get(n) ?? 0) > 150, `node ${n} owns ${counts.get(n)} of 600`);
  });

  it('moves only the dead node\'s groups when a node dies', () => {
    for (const g of groups) {
      const before = rendezvousOwner(g, nodes)!;
      const after = rendezvousOwner(g, ['n1', 'n3'])!;
      if (before !== 'n2') assert.equal(after, before, g);
      else assert.notEqual(after, 'n2');
    }
  });

  it('has no owner without nodes', () => {
    assert.equal(rendezvousOwner('g0', []), undefined);
  });
});

describe('cluster keys and messages', () => {
  it('refuses a cluster name that would break the key space', () => {
    assert.throws(() => new ClusterKeys('a b'), /cluster name/);
    assert.equal(new ClusterKeys('prod-1').leader, 'tabfleet:prod-1:leader');
  });

  it('refuses a malformed job from Redis with a clear message', () => {
    assert.throws(() => parseJson(groupJobSchema, '{"jobId":"x"}', 'job for group g0'), /job for group g0: .*runId/);
    assert.throws(() => parseJson(groupJobSchema, 'not json', 'job'), /job: not JSON/);
  });
});

describe('cluster flags', () => {
  it('--redis joins a cluster; without it nothing changes', () => {
    const one = parseCoordinatorArgs([]);
    assert.equal(one.redis, undefined);
    const c = parseCoordinatorArgs(['--redis', 'redis://127.0.0.1:6379', '--node-id', 'a1', '--public-url', 'http://10.0.0.5:8080/']);
    assert.equal(c.redis, 'redis://127.0.0.1:6379');
    assert.equal(c.cluster, 'default');
    assert.equal(c.nodeId, 'a1');
    assert.equal(c.publicUrl, 'http://10.0.0.5:8080');
  });

  it('refuses bad values and cluster flags without --redis', () => {
    assert.throws(() => parseCoordinatorArgs(['--redis', 'localhost:6379']), ConfigError);
    assert.throws(() => parseCoordinatorArgs(['--cluster', 'x']), /--cluster needs --redis/);
    assert.throws(() => parseCoordinatorArgs(['--redis', 'redis://h', '--node-id', 'a/b']), /--node-id/);
    assert.throws(() => parseCoordinatorArgs(['--redis', 'redis://h', '--public-url', 'ftp://x']), /--public-url/);
  });
});
