/**
 * Which node owns a group: rendezvous (highest-random-weight) hashing of the group id over the
 * live nodes. Every node computes the same owner from the same live set with no coordination, and
 * when a node dies only the groups it owned move (each to the node that ranked second for it).
 */
import { createHash } from 'node:crypto';

function weight(key: string, nodeId: string): bigint {
  return createHash('sha256').update(`${key}\u0000${nodeId}`).digest().readBigUInt64BE(0);
}

/** The owner of `key` among `nodeIds` (order does not matter); undefined when there is no node. */
export function rendezvousOwner(key: string, nodeIds: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const id of nodeIds) {
    const w = weight(key, id);
    // Ties (vanishingly rare) go to the smaller id, so the answer never depends on list order.
    if (w > bestWeight || (w === bestWeight && best !== undefined && id < best)) {
      best = id;
      bestWeight = w;
    }
  }
  return best;
}
