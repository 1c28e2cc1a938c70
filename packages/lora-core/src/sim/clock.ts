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
 * With overheads (federated/overheads.ts, the same terms the planner predicts with), a member's
 * intra-round time also holds the download of the whole group adapter before it trains, each
 * intra-group round adds syncMsPerIntraRound and the aggregation of its uploads, and the global
 * round adds syncMsPerGlobalRound and the global aggregation (globalRoundMs). Evaluation time is
 * not modelled (the server evaluates while the next round runs).
 * A group plan with a deadline: members predicted past it were dropped; the intra-round then
 * lasts until the deadline (the server waited for them).
 */
import type { ResourceProfile } from '../federated/types';
import { aggregationMs, downloadMs, resolveOverheads, type RoundOverheads } from '../federated/overheads';

export interface Contribution {
  readonly profile: ResourceProfile;
  /** Encoded bytes this member uploaded in this intra-group round. */
  readonly uploadBytes: number;
  /** The member's own depth (GroupPlan.memberDepths); absent: the group's. */
  readonly depth?: number;
}

export function computeMs(profile: ResourceProfile, depth: number, localSteps: number): number {
  const ms = profile.msPerStep[depth - 1];
  if (ms === undefined) throw new RangeError(`profile has no step time for depth ${depth}`);
  return localSteps * ms;
}

export function uploadMs(profile: ResourceProfile, bytes: number): number {
  return profile.uploadBytesPerSec > 0 ? (bytes / profile.uploadBytesPerSec) * 1000 : Number.POSITIVE_INFINITY;
}

/** A member's intra-round time: download (with overheads) + compute + upload. */
export function memberRoundMs(profile: ResourceProfile, depth: number, localSteps: number, uploadBytes: number, overheads?: RoundOverheads): number {
  const o = resolveOverheads(overheads);
  return downloadMs(profile, o.downloadBytes, o) + computeMs(profile, depth, localSteps) + uploadMs(profile, uploadBytes);
}

/**
 * Σ_k [max_m (download + compute + upload) + sync + aggregation] over each intra-group round's
 * contributors (an empty round costs 0). `deadlineMs[k]`: round k dropped someone at this deadline.
 */
export function groupRoundMs(
  intraRounds: readonly (readonly Contribution[])[],
  depth: number,
  localSteps: number,
  overheads?: RoundOverheads,
  deadlineMs?: readonly (number | undefined)[],
): number {
  const o = resolveOverheads(overheads);
  let total = 0;
  intraRounds.forEach((contributions, k) => {
    if (contributions.length === 0) return;
    let slowest = deadlineMs?.[k] ?? 0;
    let bytes = 0;
    for (const c of contributions) {
      slowest = Math.max(slowest, memberRoundMs(c.profile, c.depth ?? depth, localSteps, c.uploadBytes, overheads));
      bytes += c.uploadBytes;
    }
    total += slowest + o.syncMsPerIntraRound + aggregationMs(bytes, o);
  });
  return total;
}

/** The global round: the slowest group, then the barrier and the global aggregation of `groupBytes`. */
export function globalRoundMs(groupMs: readonly number[], groupBytes: number, overheads?: RoundOverheads): number {
  const o = resolveOverheads(overheads);
  if (groupMs.length === 0) return 0;
  return Math.max(...groupMs) + o.syncMsPerGlobalRound + aggregationMs(groupBytes, o);
}

/** Σ over every contribution of its compute time. */
export function groupComputeMs(intraRounds: readonly (readonly Contribution[])[], depth: number, localSteps: number): number {
  let total = 0;
  for (const contributions of intraRounds) for (const c of contributions) total += computeMs(c.profile, c.depth ?? depth, localSteps);
  return total;
}
