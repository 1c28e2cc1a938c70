/**
 * The messages of a distributed round, as they sit in Redis. The leader writes one GroupJob per
 * group into the round's jobs hash; the owner node runs the group and writes a GroupResultMeta
 * plus the group's delta (adapter codec bytes) under the job's id. Everything entering from Redis
 * is parsed by its schema: a node never trusts another node's bytes blindly.
 */
import { z } from 'zod';
import type { GroupPlan } from '../core';

export const groupPlanSchema = z.object({
  groupId: z.string().min(1).max(128),
  deviceIds: z.array(z.string().min(1).max(128)),
  depth: z.number().int().positive(),
  intraRounds: z.number().int().positive(),
  localSteps: z.number().int().positive(),
  deadlineMs: z.number().positive().optional(),
  memberDepths: z.record(z.string().min(1).max(128), z.number().int().positive()).optional(),
});

export const groupJobSchema = z.object({
  /** Unique per (leader epoch, round, attempt, group, reassignment): results are keyed by it. */
  jobId: z.string().min(1).max(256),
  runId: z.string().min(1),
  round: z.number().int().positive(),
  group: groupPlanSchema,
  owner: z.string().min(1),
  /** Own-data weight cap of the round (samples); null = none. */
  weightCap: z.number().positive().nullable(),
  /** The Redis key of the global adapter the group starts from. */
  globalKey: z.string().min(1),
});
export type GroupJob = z.output<typeof groupJobSchema>;

export const groupResultMetaSchema = z.object({
  jobId: z.string(),
  groupId: z.string(),
  node: z.string(),
  /** contributors[k]: members whose update counted in intra-group round k. */
  contributors: z.array(z.array(z.string())),
  /** Absent: no member delivered anything. */
  numSamples: z.number().positive().optional(),
  steps: z.number().nonnegative().optional(),
  bytesUp: z.number().nonnegative(),
  bytesDown: z.number().nonnegative(),
});
export type GroupResultMeta = z.output<typeof groupResultMetaSchema>;

export function parseJson<T>(schema: z.ZodType<T>, raw: string, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new Error(`${what}: not JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`${what}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

export function asGroupPlan(p: z.output<typeof groupPlanSchema>): GroupPlan {
  return { groupId: p.groupId, deviceIds: p.deviceIds, depth: p.depth, intraRounds: p.intraRounds, localSteps: p.localSteps, ...(p.deadlineMs === undefined ? {} : { deadlineMs: p.deadlineMs }), ...(p.memberDepths === undefined ? {} : { memberDepths: p.memberDepths }) };
}
