/**
 * Several coordinator processes sharing one run through a real Redis (a private redis-server),
 * against fleets of simulated devices (socket.io-client, no tfjs): the multi-node result equals
 * the single-node one for the same devices, and a node killed mid-round loses nothing.
 *
 * The simulated devices' uploads depend only on (device, round, intra-round, depth), so the same
 * fleet must yield the same global adapter on one node and on three — whatever node each group
 * ran on, and even when a node dies and its groups run again elsewhere.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeAdapter } from '../src/core';
import type { AdapterState } from '../src/core';
import { startDevices, startNode, startRedis } from '../../../scripts/cluster-fleet/harness';
import type { NodeProcess, RedisProcess } from '../../../scripts/cluster-fleet/harness';
import type { NodeSettings } from '../../../scripts/cluster-fleet/node';

const TASK = { numBlocks: 4, width: 16, numClasses: 6, seed: 3 };
const TOKEN = 'cluster-test-token';
let redis: RedisProcess;
const spawned: NodeProcess[] = [];

async function finalAdapter(node: NodeProcess): Promise<AdapterState> {
  const res = await fetch(`${node.url}/api/admin/adapter`, { headers: { Authorization: 'Bearer cluster-admin-token' } });
  assert.equal(res.status, 200, `export from ${node.nodeId}: ${res.status}`);
  return decodeAdapter(new Uint8Array(await res.arrayBuffer()), { copy: true });
}

function maxAbsDiff(a: AdapterState, b: AdapterState): number {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  let max = 0;
  for (const [block, tensors] of a) {
    for (const [name, t] of tensors) {
      const u = b.get(block)?.get(name);
      assert.ok(u, `${block}/${name} missing`);
      for (let i = 0; i < t.data.length; i++) max = Math.max(max, Math.abs(t.data[i]! - u.data[i]!));
    }
  }
  return max;
}

function movedFromInitial(a: AdapterState): number {
  let n = 0;
  for (const tensors of a.values()) for (const t of tensors.values()) for (const x of t.data) if (x !== 0) n++;
  return n;
}

interface RunSpec {
  readonly devices: number;
  readonly robust: 'mean' | 'median';
  readonly rounds: number;
  readonly seed: number;
}

function settings(spec: RunSpec, extra: Partial<NodeSettings>): NodeSettings {
  return {
    token: TOKEN,
    task: TASK,
    run: { strategy: 'hierfedlora', rounds: spec.rounds, devicesExpected: spec.devices, localSteps: 2, roundTimeoutS: 60, robust: spec.robust, clipNorm: null, seed: spec.seed },
    rejoinGraceS: 30,
    quiet: false,
    ...extra,
  };
}

/** Runs the fleet to the end on `nodes`; resolves with the leader's final adapter. */
async function runFleet(spec: RunSpec, nodes: NodeProcess[], onRunning?: (leader: () => NodeProcess | undefined) => Promise<void>): Promise<{ adapter: AdapterState; leader: NodeProcess; redirects: number; reconnects: number }> {
  const devices = startDevices({ nodes: nodes.map((n) => n.url), token: TOKEN, first: 0, count: spec.devices, numClasses: TASK.numClasses, numBlocks: TASK.numBlocks, seed: spec.seed, msPerStep: 4, concurrency: 48, variants: 0 });
  try {
    await devices.waitJoined(spec.devices, 240_000);
    const leaderOf = () => nodes.find((n) => n.latestStats()?.leader === true && n.proc.exitCode === null && n.proc.signalCode === null);
    const fault = onRunning?.(leaderOf);
    const ends = await Promise.race([
      Promise.all(nodes.map((n) => n.done.then((d) => ({ n, d })))),
      fault?.then(() => new Promise<never>(() => {})) ?? new Promise<never>(() => {}),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`run did not finish in 240 s:\n${nodes.map((n) => n.lines.slice(-15).join('\n')).join('\n---\n')}`)), 240_000).unref()),
    ]);
    const live = ends.filter((e) => e.d.status !== 'killed');
    const led = live.filter((e) => e.d.leader);
    assert.equal(led.length, 1, 'exactly one node ran the loop');
    assert.equal(led[0]!.d.status, 'finished', led[0]!.n.lines.slice(-20).join('\n'));
    for (const e of live) assert.equal(e.d.status, 'finished');
    const report = devices.latest()!;
    // A device that reconnects while its upload is in flight may send it twice; the second copy is
    // refused as stale and changes nothing. Anything else refused is a failure.
    assert.ok(!/bad-adapter|not-joined|invalid-message/.test(report.firstError ?? ''), `${nodes.length} node(s): ${report.firstError ?? ''}`);
    return { adapter: await finalAdapter(led[0]!.n), leader: led[0]!.n, redirects: report.redirects, reconnects: report.reconnects };
  } finally {
    await devices.stop();
  }
}

async function cluster(name: string, spec: RunSpec, count = 3): Promise<NodeProcess[]> {
  const nodes = await Promise.all(Array.from({ length: count }, (_, i) => startNode(settings(spec, { redisUrl: redis.url, cluster: name, nodeId: `${name}-n${i + 1}` }))));
  spawned.push(...nodes);
  return nodes;
}

async function single(spec: RunSpec): Promise<NodeProcess[]> {
  const node = await startNode(settings(spec, { nodeId: 'single' }));
  spawned.push(node);
  return [node];
}

async function closeAll(nodes: NodeProcess[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
}

describe('a cluster of coordinators on Redis', { timeout: 600_000 }, () => {
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await Promise.all(spawned.map((n) => n.kill('SIGKILL')));
    await redis?.stop();
  });

  it('3 nodes and 1,000 devices reach the single-node global adapter (weighted mean)', async () => {
    const spec: RunSpec = { devices: 1000, robust: 'mean', rounds: 2, seed: 11 };
    const [baselineNodes, clusterNodes] = await Promise.all([single(spec), cluster('mean', spec)]);
    const one = await runFleet(spec, baselineNodes);
    await closeAll(baselineNodes);
    const three = await runFleet(spec, clusterNodes);
    await closeAll(clusterNodes);
    assert.ok(movedFromInitial(one.adapter) > 0);
    assert.ok(three.redirects > 0, 'devices were redirected to their groups\' owners');
    const diff = maxAbsDiff(one.adapter, three.adapter);
    // The owner computes the group delta with the same code as one node and ships those exact
    // float32 values; the leader combines the groups in plan order in float64: bit-identical.
    assert.equal(diff, 0, `max |Δ| between one node and three: ${diff}`);
  });

  it('3 nodes reach the single-node adapter exactly under the coordinate-wise median', async () => {
    const spec: RunSpec = { devices: 300, robust: 'median', rounds: 2, seed: 12 };
    const [baselineNodes, clusterNodes] = await Promise.all([single(spec), cluster('median', spec)]);
    const one = await runFleet(spec, baselineNodes);
    await closeAll(baselineNodes);
    const three = await runFleet(spec, clusterNodes);
    await closeAll(clusterNodes);
    assert.equal(maxAbsDiff(one.adapter, three.adapter), 0);
  });

  it('a node killed mid-round: its groups move, its devices reconnect, nothing is lost', async () => {
    const spec: RunSpec = { devices: 300, robust: 'mean', rounds: 2, seed: 13 };
    const [baselineNodes, clusterNodes] = await Promise.all([single(spec), cluster('kill', spec)]);
    const one = await runFleet(spec, baselineNodes);
    await closeAll(baselineNodes);
    let victim: NodeProcess | undefined;
    const three = await runFleet(spec, clusterNodes, async (leaderOf) => {
      // Once the victim (not the leader) is running a group of round 1, kill it.
      for (;;) {
        const leader = leaderOf();
        victim = clusterNodes.find((n) => n !== leader && n.lines.some((l) => /round 1: running group/.test(l)));
        if (leader && victim) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await victim.kill('SIGKILL');
    });
    await closeAll(clusterNodes);
    assert.ok(victim, 'a node was killed');
    const moved = three.leader.lines.filter((l) => l.includes(`node ${victim!.nodeId} is gone`));
    assert.ok(moved.length > 0, `the leader moved the dead node's groups:\n${three.leader.lines.slice(-30).join('\n')}`);
    assert.ok(three.reconnects > 0, 'devices reconnected to live nodes');
    // Every group of round 1 ran again from the same global adapter on a live node: same result.
    assert.equal(maxAbsDiff(one.adapter, three.adapter), 0);
  });

  it('Redis restarted mid-run, then the leader killed: the run continues and finishes on another node', async () => {
    const spec: RunSpec = { devices: 60, robust: 'mean', rounds: 6, seed: 14 };
    const nodes = await cluster('faults', spec);
    let killed: NodeProcess | undefined;
    const roundsDone = (n: NodeProcess) => n.lines.filter((l) => /\] round [1-9]\d*: no evaluation set/.test(l)).length;
    const result = await runFleet(spec, nodes, async (leaderOf) => {
      const wait = async (ok: () => boolean) => {
        while (!ok()) await new Promise((r) => setTimeout(r, 50));
      };
      await wait(() => nodes.some((n) => roundsDone(n) >= 1) && leaderOf() !== undefined);
      const first = leaderOf()!;
      const before = first.lines.length;
      await redis.restart();
      // Right after the restart the nodes' status lines may not name a leader yet: wait for one.
      // Kill only once a round ≥ 2 checkpoint has landed in the restarted Redis (a line from before
      // the restart does not count: that Redis is gone): the next leader resumes from there.
      await wait(() => first.lines.slice(before).some((l) => /round [2-9]: checkpoint written to Redis/.test(l)) && leaderOf() !== undefined);
      killed = leaderOf();
      assert.equal(killed, first, 'the leader kept its lease through the Redis restart');
      await killed!.kill('SIGKILL');
    });
    await closeAll(nodes);
    assert.ok(killed);
    assert.notEqual(result.leader, killed, 'another node led the run to its end');
    assert.ok(
      result.leader.lines.some((l) => /took over run .* at its last completed round [2-9]/.test(l)),
      result.leader.lines.filter((l) => /leader|took over|checkpoint|could not|round \d+:/.test(l)).join('\n'),
    );
    assert.ok(result.leader.lines.some((l) => /run .* finished: finished 6 rounds/.test(l)));
    assert.ok(movedFromInitial(result.adapter) > 0);
  });
});
