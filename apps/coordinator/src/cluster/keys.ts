/**
 * Every Redis key the cluster uses, in one place (README "Scale out" lists what each holds).
 * All keys of a cluster share the prefix `tabfleet:<cluster>:`, so several clusters can share
 * one Redis.
 */
export class ClusterKeys {
  readonly prefix: string;
  constructor(readonly cluster: string) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(cluster)) throw new Error(`cluster name "${cluster}": use 1-64 letters, digits, '.', '_' or '-'`);
    this.prefix = `tabfleet:${cluster}:`;
  }
  /** Set of node ids that ever announced themselves (pruned of dead ones). */
  get nodes(): string { return `${this.prefix}nodes`; }
  /** Heartbeat of one node: JSON {id, url, startedAt}, with a TTL; gone = the node is dead. */
  node(id: string): string { return `${this.prefix}node:${id}`; }
  /** The leader lease: the leader's node id, with a TTL it keeps renewing. */
  get leader(): string { return `${this.prefix}leader`; }
  /** The cluster's run: JSON {runId, params, joinToken, createdAt}. */
  get run(): string { return `${this.prefix}run`; }
  /** The leader's latest run status (JSON RunStatus), for followers' devices. */
  status(runId: string): string { return `${this.prefix}run:${runId}:status`; }
  /** Hash deviceId -> "<nodeId>|<JSON device>": every joined, connected device and its node. */
  devices(runId: string): string { return `${this.prefix}run:${runId}:devices`; }
  /** The number of joined connected devices on one node (kept by that node). */
  deviceCount(runId: string, nodeId: string): string { return `${this.prefix}run:${runId}:count:${nodeId}`; }
  /** The global adapter a round starts from (encoded adapter bytes): stored once, fetched by key. */
  global(runId: string, round: number): string { return `${this.prefix}run:${runId}:global:${round}`; }
  /** Hash groupId -> JSON GroupJob of the round in progress. */
  jobs(runId: string): string { return `${this.prefix}run:${runId}:jobs`; }
  /** A token the leader changes with every write of the jobs hash (in the same transaction): nodes re-read the hash only when it changed. */
  jobsVersion(runId: string): string { return `${this.prefix}run:${runId}:jobs-version`; }
  /** A group's result: JSON meta, and the encoded group delta. */
  resultMeta(runId: string, jobId: string): string { return `${this.prefix}run:${runId}:result:${jobId}:meta`; }
  resultDelta(runId: string, jobId: string): string { return `${this.prefix}run:${runId}:result:${jobId}:delta`; }
  /** The last completed round's checkpoint: JSON meta {round, accuracy, loss} and the adapter bytes. */
  checkpointMeta(runId: string): string { return `${this.prefix}run:${runId}:checkpoint:meta`; }
  checkpointBytes(runId: string): string { return `${this.prefix}run:${runId}:checkpoint:bytes`; }
  /** Set of revoked device ids (every node refuses them). */
  get revoked(): string { return `${this.prefix}revoked`; }
  /** Hash deviceId -> SHA-256 hash of the device key it is bound to. */
  deviceKeys(runId: string): string { return `${this.prefix}run:${runId}:device-keys`; }
  /** Hash deviceId -> "<slot index>|<slot key>": fleet slots, and hash index -> deviceId (who holds it). */
  fleetSlots(runId: string): string { return `${this.prefix}run:${runId}:fleet-slots`; }
  fleetSlotOwners(runId: string): string { return `${this.prefix}run:${runId}:fleet-slot-owners`; }
}
