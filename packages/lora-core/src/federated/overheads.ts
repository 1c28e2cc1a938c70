/**
 * Round costs besides local compute and upload, shared by the planner (predictions) and the
 * simulated clock (what a round costs), so that plans and clock agree.
 *
 *   download_m   = downloadBytes / downloadBytesPerSec_m · 1000        every intra-group round: the
 *                  member fetches the group's whole adapter (blocks below its depth run frozen at
 *                  their current values, so it needs all of them, not only its trained ones)
 *   sync         = syncMsPerIntraRound per intra-group round (barrier: dispatch, the last upload's
 *                  acknowledgement, the group aggregation's scheduling), and syncMsPerGlobalRound
 *                  per global round (global barrier, evaluation hand-off, the next plan)
 *   aggregation  = bytes aggregated / aggregationBytesPerSec · 1000 at each level
 *
 * Defaults (assumptions, documented; change them with flags):
 *   downloadBytesPerSec: 4 × the device's upload bandwidth when its profile does not give one
 *     (asymmetric consumer links: 20/5, 100/20 Mbit/s);
 *   syncMsPerIntraRound 150 ms (two WebSocket round trips on a LAN/LTE mix plus scheduling);
 *   syncMsPerGlobalRound 500 ms (the global barrier, server-side evaluation kick-off, replan);
 *   aggregationBytesPerSec 500 MB/s (a weighted sum over Float32Arrays runs at ~2.6 GB/s per core
 *     here; decoding, validation and the robust rules cost more).
 */
import type { ResourceProfile } from './types';

export interface RoundOverheads {
  /** Bytes of the full adapter a member downloads before each intra-group round. Default 0 (not modelled). */
  readonly downloadBytes?: number;
  /** Default 4: a profile without downloadBytesPerSec downloads at this × its upload bandwidth. */
  readonly downloadToUploadRatio?: number;
  readonly syncMsPerIntraRound?: number;
  readonly syncMsPerGlobalRound?: number;
  readonly aggregationBytesPerSec?: number;
}

export const DEFAULT_OVERHEADS = {
  downloadToUploadRatio: 4,
  syncMsPerIntraRound: 150,
  syncMsPerGlobalRound: 500,
  aggregationBytesPerSec: 500e6,
} as const;

/** Overheads with every default filled in; `undefined` means none modelled (all zero). */
export function resolveOverheads(o: RoundOverheads | undefined): Required<RoundOverheads> {
  if (o === undefined) return { downloadBytes: 0, downloadToUploadRatio: 4, syncMsPerIntraRound: 0, syncMsPerGlobalRound: 0, aggregationBytesPerSec: Number.POSITIVE_INFINITY };
  const r = {
    downloadBytes: o.downloadBytes ?? 0,
    downloadToUploadRatio: o.downloadToUploadRatio ?? DEFAULT_OVERHEADS.downloadToUploadRatio,
    syncMsPerIntraRound: o.syncMsPerIntraRound ?? DEFAULT_OVERHEADS.syncMsPerIntraRound,
    syncMsPerGlobalRound: o.syncMsPerGlobalRound ?? DEFAULT_OVERHEADS.syncMsPerGlobalRound,
    aggregationBytesPerSec: o.aggregationBytesPerSec ?? DEFAULT_OVERHEADS.aggregationBytesPerSec,
  };
  for (const [k, v] of Object.entries(r)) if (!(v >= 0)) throw new RangeError(`round overhead ${k} must be ≥ 0, got ${v}`);
  if (!(r.aggregationBytesPerSec > 0 && r.downloadToUploadRatio > 0)) throw new RangeError('aggregationBytesPerSec and downloadToUploadRatio must be > 0');
  return r;
}

/** ms for one member to download `bytes`. */
export function downloadMs(profile: ResourceProfile, bytes: number, o: Required<RoundOverheads>): number {
  if (bytes <= 0) return 0;
  const rate = profile.downloadBytesPerSec ?? profile.uploadBytesPerSec * o.downloadToUploadRatio;
  return rate > 0 ? (bytes / rate) * 1000 : Number.POSITIVE_INFINITY;
}

/** ms the server spends aggregating `bytes` of updates. */
export function aggregationMs(bytes: number, o: Required<RoundOverheads>): number {
  return Number.isFinite(o.aggregationBytesPerSec) ? (bytes / o.aggregationBytesPerSec) * 1000 : 0;
}
