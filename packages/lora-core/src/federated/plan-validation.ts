/** Structural checks of a RoundPlan against the devices it is for; engines run them before carrying a plan out. */
import type { DeviceInfo, RoundPlan } from './types';

/** Every problem found, as sentences; empty means the plan is valid. */
export function validateRoundPlan(plan: RoundPlan, devices: readonly DeviceInfo[], numBlocks: number): string[] {
  const problems: string[] = [];
  const known = new Set(devices.map((d) => d.id));
  const seenDevices = new Map<string, string>();
  const seenGroups = new Set<string>();
  for (const g of plan.groups) {
    if (seenGroups.has(g.groupId)) problems.push(`duplicate group id ${g.groupId}`);
    seenGroups.add(g.groupId);
    if (g.deviceIds.length === 0) problems.push(`group ${g.groupId} is empty`);
    if (!(Number.isInteger(g.depth) && g.depth >= 1 && g.depth <= numBlocks)) {
      problems.push(`group ${g.groupId}: depth ${g.depth} outside 1..${numBlocks}`);
    }
    if (!(Number.isInteger(g.intraRounds) && g.intraRounds >= 1)) problems.push(`group ${g.groupId}: intraRounds ${g.intraRounds}`);
    if (!(Number.isInteger(g.localSteps) && g.localSteps >= 1)) problems.push(`group ${g.groupId}: localSteps ${g.localSteps}`);
    if (g.memberDepths !== undefined) {
      const members = new Set(g.deviceIds);
      for (const [id, d] of Object.entries(g.memberDepths)) {
        if (!members.has(id)) problems.push(`group ${g.groupId}: memberDepths names ${id}, not a member`);
        if (!(Number.isInteger(d) && d >= 1 && d <= g.depth)) problems.push(`group ${g.groupId}: member ${id} depth ${d} outside 1..${g.depth}`);
      }
    }
    for (const id of g.deviceIds) {
      if (!known.has(id)) problems.push(`group ${g.groupId} names unknown device ${id}`);
      const other = seenDevices.get(id);
      if (other !== undefined) problems.push(`device ${id} is in groups ${other} and ${g.groupId}`);
      seenDevices.set(id, g.groupId);
    }
  }
  for (const id of known) if (!seenDevices.has(id)) problems.push(`device ${id} is in no group`);
  return problems;
}
