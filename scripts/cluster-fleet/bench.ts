/**
 * `npm run bench:coordinator -- --nodes K --devices N`: a cluster on loopback — a private
 * redis-server, K coordinator processes (node.ts: real server, run loop, cluster node, synthetic
 * task of `--width`-wide blocks), N simulated devices (devices.ts, 1–2 processes) spread over the
 * nodes — running HierFedLoRA rounds. Prints per node: devices connected at the end, RSS and RSS
 * per device, event-loop lag p50/p99/max over the run; and for the cluster: connect+join rate,
 * redirects, rounds wall time against the devices' simulated compute. Bounded by --time-limit.
 * BENCH_NODE_CPU_PROF=DIR in the environment: every node writes a V8 CPU profile into DIR.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { startDevices, startNode, startRedis } from './harness';
import type { DevicesProcess, NodeProcess } from './harness';

export interface ClusterBenchArgs {
  readonly nodes: number;
  readonly devices: number;
  readonly rounds: number;
  readonly msPerStep: number;
  readonly localSteps: number;
  readonly concurrency: number;
  readonly seed: number;
  readonly timeLimitMs: number;
  readonly width: number;
  readonly classes: number;
}

export async function benchCluster(a: ClusterBenchArgs): Promise<void> {
  const task = { numBlocks: 4, width: a.width, numClasses: a.classes, seed: a.seed };
  const run = { strategy: 'hierfedlora' as const, rounds: a.rounds, devicesExpected: a.devices, localSteps: a.localSteps, roundTimeoutS: Math.ceil(a.timeLimitMs / 1000), robust: 'mean' as const, clipNorm: null, seed: a.seed };
  const token = 'bench-cluster-token';
  const redis = await startRedis();
  const nodes: NodeProcess[] = [];
  const fleets: DevicesProcess[] = [];
  const t0 = performance.now();
  try {
    nodes.push(...(await Promise.all(Array.from({ length: a.nodes }, (_, i) => startNode({ redisUrl: redis.url, cluster: 'bench', nodeId: `n${i + 1}`, token, task, run, rejoinGraceS: 60, quiet: true })))));
    console.log(`cluster: ${a.nodes} nodes up in ${((performance.now() - t0) / 1000).toFixed(1)} s (Redis ${redis.url})`);
    const clients = a.devices > 2000 ? 2 : 1;
    const per = Math.ceil(a.devices / clients);
    const joinStart = performance.now();
    for (let c = 0; c < clients; c++) {
      const count = Math.min(per, a.devices - c * per);
      fleets.push(startDevices({ nodes: nodes.map((n) => n.url), token, first: c * per, count, numClasses: a.classes, numBlocks: 4, seed: a.seed, msPerStep: a.msPerStep, concurrency: a.concurrency, variants: 16 }));
    }
    const deadline = Date.now() + a.timeLimitMs;
    const sum = (f: (p: DevicesProcess) => number) => fleets.reduce((n, p) => n + f(p), 0);
    const progress = setInterval(() => {
      const perNode = nodes.map((n) => `${n.nodeId} ${n.latestStats()?.devices ?? '?'}`).join(', ');
      process.stderr.write(
        `  … ${((performance.now() - joinStart) / 1000).toFixed(0)} s: ${sum((p) => p.latest()?.joined ?? 0)} joined (connected per node: ${perNode}), ${sum((p) => p.latest()?.uploads ?? 0)} uploads, ` +
          `${sum((p) => p.latest()?.redirects ?? 0)} redirects, ${sum((p) => p.latest()?.reconnects ?? 0)} reconnects, load ${loadavg()[0]!.toFixed(1)}\n`,
      );
    }, 30_000);
    progress.unref();
    while (sum((p) => p.latest()?.joined ?? 0) + sum((p) => p.latest()?.failed ?? 0) < a.devices && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const joinS = (performance.now() - joinStart) / 1000;
    const joined = sum((p) => p.latest()?.joined ?? 0);
    console.log(`devices joined: ${joined}/${a.devices} in ${joinS.toFixed(1)} s (${(joined / joinS).toFixed(0)} devices/s)`);
    const roundsStart = performance.now();
    const ended = await Promise.race([Promise.all(nodes.map((n) => n.done)), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), Math.max(1, deadline - Date.now())).unref())]);
    const roundsS = (performance.now() - roundsStart) / 1000;
    const compute = sum((p) => p.latest()?.computeMs ?? 0);
    console.log(`rounds: ${ended === 'timeout' ? 'time limit reached' : ended.find((e) => e.leader)?.status ?? '?'}; ${a.rounds} round(s) in ${roundsS.toFixed(1)} s (from the last join)`);
    console.log(
      `uploads ${sum((p) => p.latest()?.uploads ?? 0)} (accepted ${sum((p) => p.latest()?.accepted ?? 0)}, refused ${sum((p) => p.latest()?.refused ?? 0)}), redirects ${sum((p) => p.latest()?.redirects ?? 0)}, ` +
        `reconnects after a lost connection ${sum((p) => p.latest()?.reconnects ?? 0)}, simulated compute ${(compute / 1000).toFixed(1)} device-s`,
    );
    const firstError = fleets.map((p) => p.latest()?.firstError).find((e) => e !== undefined);
    if (firstError) console.log(`first device error: ${firstError}`);
    clearInterval(progress);
    // NODE_STATS come once a second: wait for the ones after the end.
    await new Promise((r) => setTimeout(r, 1500));
    console.log('');
    console.log('| node | leader | devices joined here | joins (first → last join here) | RSS / RSS per device | loop lag joins p50 / p99 / max | loop lag rounds p50 / p99 / max | time to plan | aggregation | CPU in rounds |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    const lag = (f: { count: number; p50Ms: number; p99Ms: number; maxMs: number }) => (f.count === 0 ? 'n/a' : `${f.p50Ms.toFixed(1)} / ${f.p99Ms.toFixed(1)} / ${f.maxMs.toFixed(0)} ms`);
    for (const n of nodes) {
      const s = n.latestStats();
      if (!s) continue;
      const joinS = s.firstJoinMs === null || s.lastJoinMs === null ? 0 : (s.lastJoinMs - s.firstJoinMs) / 1000;
      const joins = s.mostJoined === 0 ? '—' : `${joinS.toFixed(1)} s, ${(s.mostJoined / Math.max(joinS, 1e-3)).toFixed(0)} devices/s`;
      const perDevice = s.mostJoined > 0 ? `${((s.rssJoinedBytes - s.rssAtStartBytes) / s.mostJoined / 1024).toFixed(1)} KiB` : '—';
      const agg = s.aggMs > 0 ? `${(s.aggBytes / 2 ** 20).toFixed(0)} MiB in ${s.aggMs.toFixed(0)} ms = ${(s.aggBytes / 2 ** 20 / (s.aggMs / 1000)).toFixed(0)} MiB/s` : '—';
      const plan = s.planMs.length === 0 ? '—' : s.planMs.map((t) => `${t.toFixed(0)} ms`).join(', ');
      console.log(
        `| ${n.nodeId} | ${s.leader ? 'yes' : ''} | ${s.mostJoined} (${s.devices} at the end) | ${joins} | ${(s.rssBytes / 2 ** 20).toFixed(0)} MiB / ${perDevice} | ${lag(s.lagJoins)} | ${lag(s.lagRounds)} | ${plan} | ${agg} | ${s.roundsCpuS.toFixed(1)} s |`,
      );
    }
    console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(', ')}`);
  } finally {
    await Promise.all(fleets.map((f) => f.stop()));
    // A node asked to write a CPU profile (BENCH_NODE_CPU_PROF) writes it on a clean exit: SIGTERM, then SIGKILL after 30 s.
    const profiling = process.env.BENCH_NODE_CPU_PROF !== undefined;
    await Promise.all(
      nodes.map(async (n) => {
        if (!profiling) return n.kill('SIGKILL');
        const hard = setTimeout(() => void n.kill('SIGKILL'), 30_000);
        await n.kill('SIGTERM');
        clearTimeout(hard);
      }),
    );
    await redis.stop();
  }
}
