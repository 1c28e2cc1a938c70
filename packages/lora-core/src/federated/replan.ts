/**
 * When to plan again: a plan stays valid while the membership it was made for is unchanged and the
 * devices run about as fast as their profiles said. Plans are deterministic in (devices, seed), so
 * an engine may reuse the previous plan whenever this says no.
 */
import type { DeviceInfo, RoundPlan } from './types';

export interface ReplanOptions {
  /** Relative drift |measured / profiled − 1| above which a device's step time counts as changed. Default 0.25. */
  readonly driftThreshold?: number;
  /** Weight of the measurement when blended into the profile at a replan (blendMeasuredProfiles). Default 0.5. */
  readonly blendWeight?: number;
}

export interface ReplanDecision {
  readonly replan: boolean;
  readonly reasons: readonly string[];
}

/**
 * @param measured device id → measured ms per local step at the depth `previous` gave it
 *   (devices without a measurement yet are not judged on drift).
 */
export function shouldReplan(
  previous: RoundPlan | undefined,
  devices: readonly DeviceInfo[],
  measured: ReadonlyMap<string, number> | Readonly<Record<string, number>> = new Map(),
  options: ReplanOptions = {},
): ReplanDecision {
  if (previous === undefined) return { replan: true, reasons: ['no previous plan'] };
  const threshold = options.driftThreshold ?? 0.25;
  const reasons: string[] = [];

  const planned = new Map<string, number>();
  for (const g of previous.groups) for (const id of g.deviceIds) planned.set(id, g.depth);
  const current = new Set(devices.map((d) => d.id));
  const joined = [...current].filter((id) => !planned.has(id));
  const left = [...planned.keys()].filter((id) => !current.has(id));
  if (joined.length > 0) reasons.push(`joined: ${joined.join(', ')}`);
  if (left.length > 0) reasons.push(`left: ${left.join(', ')}`);

  const measuredMs = measured instanceof Map ? measured : new Map(Object.entries(measured));
  for (const d of devices) {
    const depth = planned.get(d.id);
    const ms = measuredMs.get(d.id);
    if (depth === undefined || ms === undefined) continue;
    const profiled = d.profile.msPerStep[depth - 1];
    if (profiled === undefined || !(profiled > 0)) continue;
    const drift = ms / profiled - 1;
    if (!Number.isFinite(drift) || Math.abs(drift) > threshold) {
      reasons.push(`${d.id}: ${ms.toFixed(1)} ms/step measured vs ${profiled.toFixed(1)} profiled at depth ${depth}`);
    }
  }
  return { replan: reasons.length > 0, reasons };
}

/**
 * Devices with their profiles corrected by measurement, for the next plan: a device measured at
 * ms per step at depth d (its depth in `previous`) has its whole msPerStep table scaled by
 *     f = (1 − w) + w · ms / msPerStep[d − 1]
 * (w = weight, default 0.5: a blend, so one noisy round moves the plan only half-way). The ratio
 * applies to every depth alike — one measurement at one depth says how much faster or slower the
 * device runs than it claimed, not how its depths compare. Devices without a measurement, or
 * without a profiled time at their depth, are returned unchanged.
 */
export function blendMeasuredProfiles(
  devices: readonly DeviceInfo[],
  previous: RoundPlan | undefined,
  measured: ReadonlyMap<string, number> | undefined,
  weight = 0.5,
): DeviceInfo[] {
  if (!(weight >= 0 && weight <= 1)) throw new RangeError(`blend weight must be in [0, 1], got ${weight}`);
  if (previous === undefined || measured === undefined || measured.size === 0) return [...devices];
  const depthOf = new Map<string, number>();
  for (const g of previous.groups) for (const id of g.deviceIds) depthOf.set(id, g.depth);
  return devices.map((d) => {
    const depth = depthOf.get(d.id);
    const ms = measured.get(d.id);
    const profiled = depth === undefined ? undefined : d.profile.msPerStep[depth - 1];
    if (ms === undefined || profiled === undefined || !(profiled > 0) || !(Number.isFinite(ms) && ms > 0)) return d;
    const f = 1 - weight + (weight * ms) / profiled;
    return { ...d, profile: { ...d.profile, msPerStep: d.profile.msPerStep.map((x) => x * f) } };
  });
}
