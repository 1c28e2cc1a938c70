/**
 * The simulated clock: the planner's resource model applied to what actually happened in a round.
 *
 *   member time in intra-group round k   = I · msPerStep_m[d_g − 1] + uploadBytes_m,k / uploadBytesPerSec_m · 1000
 *   group time                           = Σ_k max over the members that contributed in k
 *                                          (= τ_g · planner.intraRoundMs when every member delivers the
 *                                             encoded size the plan assumed)
 *   global round time                    = max over groups (groups run concurrently; the global
 *                                          aggregation waits for the slowest)
 *   device compute                       = Σ over contributions I · msPerStep_m[d_g − 1]
 * Download, aggregation and evaluation time are not modelled, as in the planner.
 */
import type { ResourceProfile } from '../federated/types';

export interface Contribution {
  readonly profile: ResourceProfile;
  /** Encoded bytes this member uploaded in this intra-group round. */
  readonly uploadBytes: number;
}

export function computeMs(profile: ResourceProfile, depth: number, localSteps: number): number {
  const ms = profile.msPerStep[depth - 1];
  if (ms === undefined) throw new RangeError(`profile has no step time for depth ${depth}`);
  return localSteps * ms;
}

export function uploadMs(profile: ResourceProfile, bytes: number): number {
  return profile.uploadBytesPerSec > 0 ? (bytes / profile.uploadBytesPerSec) * 1000 : Number.POSITIVE_INFINITY;
}

/** Σ_k max_m (compute + upload) over each intra-group round's contributors (an empty round costs 0). */
export function groupRoundMs(intraRounds: readonly (readonly Contribution[])[], depth: number, localSteps: number): number {
  let total = 0;
  for (const contributions of intraRounds) {
    let slowest = 0;
    for (const c of contributions) slowest = Math.max(slowest, computeMs(c.profile, depth, localSteps) + uploadMs(c.profile, c.uploadBytes));
    total += slowest;
  }
  return total;
}

/** Σ over every contribution of its compute time. */
export function groupComputeMs(intraRounds: readonly (readonly Contribution[])[], depth: number, localSteps: number): number {
  let total = 0;
  for (const contributions of intraRounds) for (const c of contributions) total += computeMs(c.profile, depth, localSteps);
  return total;
}
