/**
 * What the coordinator benches measure inside a coordinator process: planning and aggregation time
 * (wrappers around the real strategy and planner), event-loop lag per phase (joins, rounds), and
 * the CPU time spent during rounds. Shared by bench-coordinator.ts (one node, in process) and
 * cluster-fleet/node.ts (each node of `--nodes K`).
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { IntervalHistogram } from 'node:perf_hooks';
import type { RoundPlanner, StrategySpec } from '../apps/coordinator/src/planning/planner';
import { workerAggregator } from '../apps/coordinator/src/aggregation/aggregator';
import type { WorkerAggregator } from '../apps/coordinator/src/aggregation/aggregator';
import type { AdapterState, NamedArray } from '../packages/lora-core/src/lora/adapter-state';
import { seededRandom } from '../packages/lora-core/src/federated/random';
import type { ClientUpdate } from '../packages/lora-core/src/federated/types';
import type { Strategy } from '../packages/lora-core/src/federated/strategy';
import type { RoundPlan } from '../packages/lora-core/src/federated/types';

export const floatsOf = (s: AdapterState): number => {
  let n = 0;
  for (const t of s.values()) for (const a of t.values()) n += a.data.length;
  return n;
};

/** Wall time and float32 input bytes of one kind of aggregation call. */
export interface AggregationMeter {
  ms: number;
  bytes: number;
  calls: number;
}

export interface Timing {
  readonly planMs: number[];
  /** Every aggregation call (group and global) together. */
  aggMs: number;
  aggBytes: number;
  /** aggregateGroup(WithReport): a group's device uploads combined by the run's rule (robust rule included). */
  readonly group: AggregationMeter;
  /** aggregateGlobal: the groups' deltas combined by the weighted mean. */
  readonly global: AggregationMeter;
  readonly plans: RoundPlan[];
}

export const newTiming = (): Timing => ({ planMs: [], aggMs: 0, aggBytes: 0, group: { ms: 0, bytes: 0, calls: 0 }, global: { ms: 0, bytes: 0, calls: 0 }, plans: [] });

/** `706.5 MiB in 1800 ms = 392 MiB/s (200 calls)`. */
export const meterLine = (m: AggregationMeter): string =>
  m.calls === 0 ? 'n/a' : `${(m.bytes / 2 ** 20).toFixed(1)} MiB in ${m.ms.toFixed(0)} ms = ${(m.bytes / 2 ** 20 / (m.ms / 1000)).toFixed(0)} MiB/s (${m.calls} calls)`;

/** The strategy, with its plan and aggregation calls timed into `timing`. */
export function timedStrategy(inner: Strategy, timing: Timing): Strategy {
  const withReport = inner.aggregateGroupWithReport?.bind(inner);
  /** Runs one aggregation, adding its time and the float32 bytes it folded to `timing`. */
  const timed = <T>(meter: AggregationMeter, deltas: readonly (AdapterState | undefined)[], aggregate: () => T): T => {
    const t0 = performance.now();
    const out = aggregate();
    const ms = performance.now() - t0;
    let bytes = 0;
    for (const d of deltas) if (d) bytes += 4 * floatsOf(d);
    timing.aggMs += ms;
    timing.aggBytes += bytes;
    meter.ms += ms;
    meter.bytes += bytes;
    meter.calls += 1;
    return out;
  };
  return {
    name: inner.name,
    ...(withReport
      ? {
          aggregateGroupWithReport(updates: Parameters<typeof withReport>[0], base?: AdapterState) {
            return timed(timing.group, updates.map((u) => u.delta), () => withReport(updates, base));
          },
        }
      : {}),
    plan(devices, ctx) {
      const t0 = performance.now();
      const plan = inner.plan(devices, ctx);
      timing.planMs.push(performance.now() - t0);
      timing.plans.push(plan);
      return plan;
    },
    aggregateGroup(updates, base) {
      return timed(timing.group, updates.map((u) => u.delta), () => inner.aggregateGroup(updates, base));
    },
    aggregateGlobal(groups, base) {
      return timed(timing.global, groups.map((g) => g.delta), () => inner.aggregateGlobal(groups, base));
    },
  };
}

/**
 * The run's aggregation worker (aggregation/aggregator.ts), metered: per kind, the worker's own time
 * for each call and the float32 bytes handed to it. The strategy's aggregations then run there,
 * not in timedStrategy.
 */
export function timedAggregator(spec: StrategySpec, timing: Timing): WorkerAggregator {
  const meterOf = (kind: 'group' | 'global') => (kind === 'group' ? timing.group : timing.global);
  const inner = workerAggregator(spec, {
    onCompute: (kind, ms) => {
      meterOf(kind).ms += ms;
      timing.aggMs += ms;
    },
  });
  const count = (meter: AggregationMeter, deltas: readonly AdapterState[]) => {
    let bytes = 0;
    for (const d of deltas) bytes += 4 * floatsOf(d);
    meter.bytes += bytes;
    meter.calls += 1;
    timing.aggBytes += bytes;
  };
  return {
    group(updates, base) {
      count(timing.group, updates.map((u) => u.delta));
      return inner.group(updates, base);
    },
    global(groups, base) {
      count(timing.global, groups.map((g) => g.delta));
      return inner.global(groups, base);
    },
    close: () => inner.close(),
  };
}

/** The planner, with each new plan's wall time (worker included) recorded into `timing`. */
export function timedPlanner(inner: RoundPlanner, timing: Timing): RoundPlanner {
  return {
    async plan(devices, ctx, previous, measured) {
      const t0 = performance.now();
      const choice = await inner.plan(devices, ctx, previous, measured);
      if (choice.replanned || previous === undefined) {
        timing.planMs.push(performance.now() - t0);
        timing.plans.push(choice.plan);
      }
      return choice;
    },
    close: () => inner.close(),
  };
}

// The histogram records whole timer intervals; the lag is what exceeds the sampling interval.
const LAG_RESOLUTION_MS = 2;
export type Phase = 'idle' | 'joins' | 'rounds';

/** Event-loop lag and CPU time per phase of the run. */
export class PhaseMeters {
  readonly lag: Record<Exclude<Phase, 'idle'>, IntervalHistogram> = {
    joins: monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS }),
    rounds: monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS }),
  };
  phase: Phase = 'idle';
  private cpuAt: NodeJS.CpuUsage | undefined;
  /** CPU microseconds (user + system) spent in the rounds phase. */
  roundsCpuUs = 0;

  enter(phase: Phase): void {
    if (phase === this.phase) return;
    if (this.phase === 'rounds' && this.cpuAt) {
      const d = process.cpuUsage(this.cpuAt);
      this.roundsCpuUs += d.user + d.system;
    }
    if (phase === 'rounds') this.cpuAt = process.cpuUsage();
    this.phase = phase;
    for (const [name, h] of Object.entries(this.lag)) {
      if (name === phase) h.enable();
      else h.disable();
    }
  }

  /** Rounds CPU so far, including the phase in progress. */
  roundsCpuSeconds(): number {
    let us = this.roundsCpuUs;
    if (this.phase === 'rounds' && this.cpuAt) {
      const d = process.cpuUsage(this.cpuAt);
      us += d.user + d.system;
    }
    return us / 1e6;
  }
}

export interface LagFigures {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

const ms = (ns: number) => (Number.isFinite(ns) ? Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS) : Number.NaN);

export function lagFigures(h: IntervalHistogram): LagFigures {
  return { count: h.count, p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max) };
}

export const lagLine = (f: LagFigures): string =>
  f.count === 0 ? 'n/a' : `p50 ${f.p50Ms.toFixed(1)} ms, p99 ${f.p99Ms.toFixed(1)} ms, max ${f.maxMs.toFixed(1)} ms`;

/**
 * The aggregation kernels alone, on this thread after the run: `members` seeded synthetic deltas of
 * the adapter's shapes (a group's uploads), each rule run back to back for ~`budgetMs` of CPU time.
 * MiB/s of float32 input per CPU second of this process (the run is over: its other threads idle),
 * so per core, and much less sensitive to a shared machine's load than the wall times in the run.
 */
export function kernelThroughput(adapter: AdapterState, members: number, rules: ReadonlyArray<{ name: string; run: (u: ClientUpdate[]) => unknown }>, budgetMs = 800): string[] {
  const random = seededRandom(12345);
  const updates: ClientUpdate[] = Array.from({ length: members }, (_, i) => {
    const delta: AdapterState = new Map();
    for (const [key, tensors] of adapter) {
      const block = new Map<string, NamedArray>();
      for (const [name, t] of tensors) block.set(name, { shape: [...t.shape], data: Float32Array.from(t.data, () => (random() - 0.4) * 1e-3) });
      delta.set(key, block);
    }
    return { deviceId: `kernel-${i}`, numSamples: 50 + 10 * i, delta };
  });
  const mib = (members * 4 * floatsOf(adapter)) / 2 ** 20;
  return rules.map(({ name, run }) => {
    for (let i = 0; i < 3; i++) run(updates);
    const c0 = process.cpuUsage();
    let calls = 0;
    let us = 0;
    while (us < budgetMs * 1000) {
      run(updates);
      calls += 1;
      const c = process.cpuUsage(c0);
      us = c.user + c.system;
    }
    const ms = us / 1000 / calls;
    return `${name}: ${ms.toFixed(1)} CPU ms per group of ${members} full uploads = ${(mib / (ms / 1000)).toFixed(0)} MiB/s per core`;
  });
}
