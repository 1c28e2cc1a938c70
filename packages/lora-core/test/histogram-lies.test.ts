/**
 * What a label-histogram lie can do to near-IID grouping (issue 13), measured: 20 honest devices
 * (Dirichlet 0.3, 10 classes, 4 groups) plus one liar declaring 9,999,999 samples of one class.
 * Uncapped, the lie swamps the fleet's pooled distribution and regroups honest devices; with the
 * coordinator's cap (capDeclaredSamples to 2 × the median declared count) it does about what one
 * more honest device does: any newcomer reshuffles a combinatorial grouping, so "the liar moves
 * only itself" is measured as the honest groups' balance (worst JS divergence from the honest
 * fleet), not as unchanged membership.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { capDeclaredSamples, groupDivergences, nearIidGroups } from '../src/federated';
import type { DeviceInfo } from '../src/federated';
import { normalize, jensenShannon } from '../src/federated/label-distribution';
import { syntheticFleet } from './federated-fixtures';

const NUM_CLASSES = 10;

function coMembership(groups: readonly { deviceIds: readonly string[] }[], ids: readonly string[]): Set<string> {
  const pairs = new Set<string>();
  const honest = new Set(ids);
  for (const g of groups) {
    const members = g.deviceIds.filter((id) => honest.has(id)).sort();
    for (let i = 0; i < members.length; i++) for (let j = i + 1; j < members.length; j++) pairs.add(`${members[i]}|${members[j]}`);
  }
  return pairs;
}

/** Honest pairs grouped differently from the clean grouping, as a fraction of the clean pairs. */
function pairsMoved(clean: Set<string>, other: Set<string>): number {
  let moved = 0;
  for (const p of clean) if (!other.has(p)) moved += 1;
  return moved / Math.max(1, clean.size);
}

/** The worst divergence of an honest group's pooled distribution from the honest fleet's. */
function worstHonestDivergence(honest: readonly DeviceInfo[], groups: readonly { deviceIds: readonly string[] }[]): number {
  const byId = new Map(honest.map((d) => [d.id, d]));
  const fleet = new Array<number>(NUM_CLASSES).fill(0);
  for (const d of honest) d.labelHistogram.forEach((c, i) => (fleet[i]! += c));
  let worst = 0;
  for (const g of groups) {
    const counts = new Array<number>(NUM_CLASSES).fill(0);
    for (const id of g.deviceIds) byId.get(id)?.labelHistogram.forEach((c, i) => (counts[i]! += c));
    if (counts.some((c) => c > 0)) worst = Math.max(worst, jensenShannon(normalize(counts), normalize(fleet)));
  }
  return worst;
}

describe('label-histogram lies and grouping', () => {
  it('capDeclaredSamples scales the histogram to the cap and keeps it summing to numSamples', () => {
    const d = { id: 'x', numSamples: 9_999_999, labelHistogram: [9_999_999, 0, 0] };
    assert.deepEqual(capDeclaredSamples(d, 240), { id: 'x', numSamples: 240, labelHistogram: [240, 0, 0] });
    const mixed = capDeclaredSamples({ numSamples: 10, labelHistogram: [3, 3, 4] }, 5);
    assert.equal(mixed.labelHistogram.reduce((a, b) => a + b, 0), 5);
    const small = { numSamples: 5, labelHistogram: [5] };
    assert.equal(capDeclaredSamples(small, 240), small);
  });

  it('a capped liar does about what one more honest device does; an uncapped one wrecks the honest groups\' balance', () => {
    const honest = syntheticFleet({ numDevices: 20, numClasses: NUM_CLASSES, alpha: 0.3, numBlocks: 4, seed: 3 });
    const ids = honest.map((d) => d.id);
    const liar: DeviceInfo = { ...honest[0]!, id: 'dev-liar', numSamples: 9_999_999, labelHistogram: [9_999_999, ...new Array<number>(NUM_CLASSES - 1).fill(0)] };
    const sorted = honest.map((d) => d.numSamples).sort((a, b) => a - b);
    const cap = 2 * ((sorted[9]! + sorted[10]!) / 2);
    const options = { numGroups: 4, seed: 11 };
    const clean = nearIidGroups(honest, options);
    const uncapped = nearIidGroups([...honest, liar], options);
    const capped = nearIidGroups([...honest, capDeclaredSamples(liar, cap)], options);
    // The yardstick: one more honest device (another's data mix) instead of the liar.
    const extra = syntheticFleet({ numDevices: 21, numClasses: NUM_CLASSES, alpha: 0.3, numBlocks: 4, seed: 5 })[20]!;
    const withHonestExtra = nearIidGroups([...honest, { ...extra, id: 'dev-extra' }], options);
    const cleanPairs = coMembership(clean, ids);
    const movedUncapped = pairsMoved(cleanPairs, coMembership(uncapped, ids));
    const movedCapped = pairsMoved(cleanPairs, coMembership(capped, ids));
    const jsClean = worstHonestDivergence(honest, clean);
    const jsUncapped = worstHonestDivergence(honest, uncapped);
    const jsCapped = worstHonestDivergence(honest, capped);
    const jsExtra = worstHonestDivergence(honest, withHonestExtra);
    const movedExtra = pairsMoved(cleanPairs, coMembership(withHonestExtra, ids));
    console.log(
      `histogram lie (20 honest, 4 groups): honest pairs regrouped ${(100 * movedUncapped).toFixed(0)} % uncapped liar, ${(100 * movedCapped).toFixed(0)} % capped liar, ` +
        `${(100 * movedExtra).toFixed(0)} % one more honest device; worst honest-group JS ${jsClean.toFixed(4)} clean, ${jsUncapped.toFixed(4)} uncapped liar, ` +
        `${jsCapped.toFixed(4)} capped liar, ${jsExtra.toFixed(4)} one more honest device`,
    );
    assert.ok(groupDivergences([...honest, liar], uncapped).length === 4);
    // Uncapped, the lie reshapes the fleet's distribution and wrecks the honest groups' balance.
    assert.ok(jsUncapped > 5 * jsCapped, `uncapped ${jsUncapped} vs capped ${jsCapped}`);
    // Capped, it does about what one more honest device does (any newcomer reshuffles the groups).
    assert.ok(jsCapped <= Math.max(jsClean, jsExtra) + 0.03, `capped ${jsCapped} vs clean ${jsClean} / one more honest ${jsExtra}`);
  });
});
