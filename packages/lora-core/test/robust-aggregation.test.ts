import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AdapterState } from '../src/lora/adapter-state';
import { AggregationError, weightedMeanByBlock } from '../src/federated/aggregate';
import { seededRandom } from '../src/federated/random';
import {
  clipBound,
  clipDelta,
  coordinateMedianByBlock,
  deltaNorm,
  robustAggregateByBlock,
  scaleDelta,
  trimCount,
  trimmedMeanByBlock,
} from '../src/federated/robust';
import type { RobustOptions } from '../src/federated/robust';
import { AGREEMENT_Z, agreeingUpdates, cosineWeightedMeanByBlock, leaveOneOutAgreement, pairwiseAgreement, deltaCosine, formatRobustReport, leaveOneOutCosines, robustAggregateWithReport } from '../src/federated/robust';
import { createStrategy } from '../src/federated/strategies';
import { STRATEGY_NAMES } from '../src/federated/strategy';
import type { ClientUpdate } from '../src/federated/types';
import { state, toPlain } from './federated-fixtures';

type Plain = Record<string, Record<string, number[]>>;

function assertClose(actual: Plain, expected: Plain, tol = 1e-6): void {
  assert.deepEqual(Object.keys(actual), Object.keys(expected), 'same blocks, same order');
  for (const [key, tensors] of Object.entries(expected)) {
    assert.deepEqual(Object.keys(actual[key]!), Object.keys(tensors), `tensors of ${key}`);
    for (const [name, values] of Object.entries(tensors)) {
      const got = actual[key]![name]!;
      assert.equal(got.length, values.length);
      values.forEach((v, i) => assert.ok(Math.abs(got[i]! - v) < tol, `${key}/${name}[${i}]: ${got[i]} vs ${v}`));
    }
  }
}

const update = (deviceId: string, numSamples: number, delta: Plain): ClientUpdate => ({ deviceId, numSamples, delta: state(delta) });

/** One value per update for a one-coordinate head, e.g. column([1, 2, 100]). */
const column = (values: number[], weights = values.map(() => 1)) => values.map((v, i) => update(`d${i}`, weights[i]!, { head: { W: [v] } }));
const headValue = (s: AdapterState) => s.get('head')!.get('W')!.data[0]!;

describe('coordinate-wise median and trimmed mean', () => {
  it('median: the middle value, the mean of the two middle values for an even count, coordinate by coordinate', () => {
    assert.equal(headValue(coordinateMedianByBlock(column([100, 1, 2]))), 2);
    assert.equal(headValue(coordinateMedianByBlock(column([1, 100, 3, 2]))), 2.5);
    assert.equal(headValue(coordinateMedianByBlock(column([-7]))), -7);
    const m = coordinateMedianByBlock([
      update('a', 1, { head: { W: [1, 10], b: [0] } }),
      update('b', 1, { head: { W: [5, -10], b: [3] } }),
      update('c', 1, { head: { W: [3, 0], b: [-9] } }),
    ]);
    assertClose(toPlain(m), { head: { W: [3, 0], b: [0] } });
  });

  it('trimmed mean drops ⌈βn⌉ values at each end, at least one per side for n ≥ 3 when β > 0', () => {
    assert.equal(headValue(trimmedMeanByBlock(column([-50, 1, 2, 3, 40]), 0.2)), 2);
    // n = 4, β = 0.2: ⌈0.8⌉ = 1 per side, the two middle values remain.
    assert.equal(headValue(trimmedMeanByBlock(column([0, 1, 3, 100]), 0.2)), 2);
    // β = 0: the plain unweighted mean.
    assert.equal(headValue(trimmedMeanByBlock(column([0, 1, 3, 100]), 0)), 26);
    assert.deepEqual(
      [1, 2, 3, 4, 5, 10, 11].map((n) => trimCount(n, 0.2)),
      [0, 0, 1, 1, 1, 2, 3],
    );
    assert.equal(trimCount(10, 0.49), 4, 'capped so that values remain');
  });

  it('ignores sample weights: a device claiming many samples cannot carry the median', () => {
    const us = column([0, 1, 1000], [1, 1, 1_000_000]);
    assert.equal(headValue(coordinateMedianByBlock(us)), 1);
    assert.equal(headValue(trimmedMeanByBlock(us, 0.2)), 1);
    assert.ok(headValue(weightedMeanByBlock(us)) > 999, 'the weighted mean is carried');
  });

  it('combines each block over exactly the updates that carry it; untouched blocks are absent', () => {
    const us = [
      update('shallow', 2, { '3': { A: [8] }, head: { W: [4] } }),
      update('deep1', 6, { head: { W: [0] }, '2': { A: [5] }, '3': { A: [0] } }),
      update('deep2', 6, { head: { W: [1] }, '2': { A: [-1] }, '3': { A: [1] } }),
    ];
    // block 2: two contributors (mean of both); block 3 and head: three.
    assertClose(toPlain(coordinateMedianByBlock(us)), { '2': { A: [2] }, '3': { A: [1] }, head: { W: [1] } });
    assert.equal(coordinateMedianByBlock(us).has('0'), false);
    assertClose(toPlain(coordinateMedianByBlock([...us].reverse())), toPlain(coordinateMedianByBlock(us)));
  });

  it('rejects disagreeing tensors, bad weights, bad fractions and empty input', () => {
    assert.throws(() => coordinateMedianByBlock([update('a', 1, { head: { W: [1, 2] } }), update('b', 1, { head: { W: [1] } })]), /shape mismatch/);
    assert.throws(() => coordinateMedianByBlock([update('a', 1, { head: { W: [1] } }), update('b', 1, { head: { V: [1] } })]), AggregationError);
    assert.throws(() => coordinateMedianByBlock([update('a', 0, { head: { W: [1] } })]), /weight/);
    assert.throws(() => coordinateMedianByBlock([]), AggregationError);
    assert.throws(() => trimmedMeanByBlock(column([1]), 0.5), /trim fraction/);
    assert.throws(() => trimmedMeanByBlock(column([1]), -0.1), /trim fraction/);
  });
});

describe('norm clipping', () => {
  it('measures the L2 norm over every tensor of every block, and scales down to the bound only when above it', () => {
    const d = state({ '3': { A: [3] }, head: { W: [0, 4] } });
    assert.equal(deltaNorm(d), 5);
    assertClose(toPlain(clipDelta(d, 1)), { '3': { A: [0.6] }, head: { W: [0, 0.8] } });
    assert.equal(clipDelta(d, 5), d, 'within the bound: the delta itself');
    assert.equal(toPlain(d)['3']!.A![0], 3, 'the input is left untouched');
    assertClose(toPlain(scaleDelta(d, -2)), { '3': { A: [-6] }, head: { W: [0, -8] } });
  });

  it("'auto' bounds at the median of the norms; a number is used as given", () => {
    assert.equal(clipBound([1, 100, 2], 'auto'), 2);
    assert.equal(clipBound([1, 3, 100, 2], 'auto'), 2.5);
    assert.equal(clipBound([1, 100], 7), 7);
  });

  it('clips before combining: weighted mean of clipped updates', () => {
    const us = [update('a', 1, { head: { W: [3, 4] } }), update('b', 3, { head: { W: [0, 1] } })];
    // a is clipped from norm 5 to norm 1: [0.6, 0.8]; then weights 1:3.
    assertClose(toPlain(robustAggregateByBlock(us, { rule: 'mean', clipNorm: 1 })), { head: { W: [0.15, 0.95] } });
    // auto: median of norms 5 and 1 is 3 -> a becomes [1.8, 2.4].
    assertClose(toPlain(robustAggregateByBlock(us, { rule: 'mean', clipNorm: 'auto' })), { head: { W: [0.45, 1.35] } });
    // rule 'mean' without clipping is exactly the weighted mean.
    assert.deepEqual(toPlain(robustAggregateByBlock(us, { rule: 'mean' })), toPlain(weightedMeanByBlock(us)));
  });

  it('rejects bad options', () => {
    const us = column([1]);
    assert.throws(() => robustAggregateByBlock(us, { rule: 'mean', clipNorm: 0 }), /clip norm/);
    assert.throws(() => robustAggregateByBlock(us, { rule: 'mean', clipNorm: Number.NaN }), /clip norm/);
    assert.throws(() => robustAggregateByBlock(us, { rule: 'max' } as unknown as RobustOptions), /robust rule/);
  });
});

describe('one poisoning device among honest ones', () => {
  const DIM = 200;
  const HONEST = 6;
  const random = seededRandom(7);
  const gaussian = () => Math.sqrt(-2 * Math.log(Math.max(random(), 1e-300))) * Math.cos(2 * Math.PI * random());
  // Honest deltas: one shared direction (what the data teaches) plus per-device noise, over two blocks.
  const direction = Array.from({ length: DIM }, () => gaussian());
  const honestDelta = (): Plain => {
    const v = direction.map((x) => 0.01 * (x + 0.5 * gaussian()));
    return { '3': { A: v.slice(0, DIM / 2) }, head: { W: v.slice(DIM / 2) } };
  };
  const honest = Array.from({ length: HONEST }, (_, i) => update(`h${i}`, 40 + 10 * i, honestDelta()));
  const honestMean = weightedMeanByBlock(honest);
  const honestNorm = deltaNorm(honestMean);
  // The attacker trains honestly on its own data, then scales (×100) or flips (×−10) before uploading.
  const own = honestDelta();
  const attacks = { 'scale ×100': scaleDelta(state(own), 100), 'sign-flip ×10': scaleDelta(state(own), -10) };

  /** ‖aggregate − honest mean‖ / ‖honest mean‖ */
  const error = (agg: AdapterState) => {
    const diff = new Map([...agg].map(([k, ts]) => [k, new Map([...ts].map(([n, t]) => [n, { shape: t.shape, data: t.data.map((v, i) => v - honestMean.get(k)!.get(n)!.data[i]!) }]))]));
    return deltaNorm(diff) / honestNorm;
  };

  for (const [attack, poisoned] of Object.entries(attacks)) {
    it(`${attack}: the plain mean is far from the honest mean, median and trimmed mean (with clipping) stay close`, () => {
      const updates = [...honest, { deviceId: 'attacker', numSamples: 50, delta: poisoned }];
      const norms = updates.map((u) => deltaNorm(u.delta));
      assert.ok(norms.at(-1)! > 9 * Math.max(...norms.slice(0, -1)), `attacker norm ${norms.at(-1)} vs honest ${norms.slice(0, -1)}`);
      const plain = error(weightedMeanByBlock(updates));
      assert.ok(plain > 1, `plain mean error ${plain.toFixed(3)}`);
      const robust: RobustOptions[] = [
        { rule: 'median' },
        { rule: 'median', clipNorm: 'auto' },
        { rule: 'trimmed-mean', trimFraction: 0.2 },
        { rule: 'trimmed-mean', trimFraction: 0.2, clipNorm: 'auto' },
      ];
      for (const o of robust) {
        const e = error(robustAggregateByBlock(updates, o));
        assert.ok(e < 0.35, `${JSON.stringify(o)}: error ${e.toFixed(3)} (plain mean ${plain.toFixed(3)})`);
      }
      // Clipping alone bounds the damage to one honest-sized update pointing the wrong way at worst.
      const clippedMean = error(robustAggregateByBlock(updates, { rule: 'mean', clipNorm: 'auto' }));
      assert.ok(clippedMean < 0.5 && clippedMean < plain / 3, `mean + auto clip: error ${clippedMean.toFixed(3)}`);
    });
  }
});

describe('the robust option on the strategies', () => {
  const poisoned = [...column([1, 2, 3, 4]), update('attacker', 1, { head: { W: [-1000] } })];

  it('every strategy accepts it and applies it to device updates; the default stays the weighted mean', () => {
    for (const name of STRATEGY_NAMES) {
      assert.equal(headValue(createStrategy(name, { robust: { rule: 'median' } }).aggregateGroup(poisoned)), 2, name);
      assert.equal(headValue(createStrategy(name, { robust: { rule: 'trimmed-mean', trimFraction: 0.2 } }).aggregateGroup(poisoned)), 2, name);
      assert.equal(headValue(createStrategy(name).aggregateGroup(poisoned)), -198, name);
      assert.equal(headValue(createStrategy(name, { robust: { rule: 'mean' } }).aggregateGroup(poisoned)), -198, name);
    }
  });

  it('across groups the mean stays, except for depth-only, whose groups are single devices', () => {
    const groups = poisoned.map((u) => ({ groupId: u.deviceId, numSamples: u.numSamples, delta: u.delta }));
    for (const name of STRATEGY_NAMES) {
      const global = headValue(createStrategy(name, { robust: { rule: 'median' } }).aggregateGlobal(groups));
      assert.equal(global, name === 'depth-only' ? 2 : -198, name);
    }
  });

  it('rejects bad robust options when the strategy is created', () => {
    assert.throws(() => createStrategy('fedlora', { robust: { rule: 'trimmed-mean', trimFraction: 0.6 } }), /trim fraction/);
    assert.throws(() => createStrategy('hierfedlora', { robust: { rule: 'median', clipNorm: -1 } }), /clip norm/);
  });
});

describe('cosine-mean', () => {
  const d = (id: string, numSamples: number, values: number[]) => ({ id, numSamples, delta: state({ '1': { A: values } }) });

  it('drops an update pointing against the median and keeps the honest ones', () => {
    const honest = [d('a', 10, [1, 1, 0.2, 0]), d('b', 10, [0.8, 1.2, 0, 0.1]), d('c', 10, [1.2, 0.9, 0.1, 0])];
    const flip = d('f', 1e6, [-1, -1, -0.2, 0]);
    const out = toPlain(cosineWeightedMeanByBlock([...honest, flip]))['1']!.A!;
    const honestOnly = toPlain(cosineWeightedMeanByBlock(honest))['1']!.A!;
    // The flip only nudges the median (4 updates instead of 3), hence the cosines, a little.
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(out[i]! - honestOnly[i]!) < 0.01, `value ${i}: ${out[i]} vs ${honestOnly[i]}`);
    assert.ok(deltaCosine(flip.delta, honest[0]!.delta) < -0.99);
    // Two updates that cancel: nothing agrees with their median (zero), which is returned.
    assert.deepEqual(toPlain(cosineWeightedMeanByBlock([honest[0]!, d('g', 10, [-1, -1, -0.2, 0])]))['1']!.A, [0, 0, 0, 0]);
    assert.deepEqual(
      toPlain(robustAggregateByBlock([...honest, flip], { rule: 'cosine-mean', clipNorm: 'auto' }))['1']!.A!.map((x) => x > 0),
      [true, true, true, true],
    );
  });
});

describe('cosine-mean against near-orthogonal honest updates (as real LoRA uploads are)', () => {
  const DIM = 20_000;
  const random = seededRandom(5);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  // Honest updates share a direction (what every device learns) under a larger device-specific part.
  const common = Array.from({ length: DIM }, gauss);
  const honestValues = (k: number) => Array.from({ length: DIM }, (_, i) => 0.35 * common[i]! + gauss() * (1 + 0.1 * k));
  const up = (id: string, values: number[]) => update(id, 100, { '1': { A: values } });
  const honest = [0, 1, 2].map((k) => up(`h${k}`, honestValues(k)));
  const fourth = honestValues(3);
  const flip = up('flip', fourth.map((v) => -v));
  const noise = up('noise', Array.from({ length: DIM }, () => (random() < 0.5 ? -1.3 : 1.3)));

  it('against the median of all of them, a sign flip and random signs look like agreement; against the others they do not', () => {
    for (const attacker of [flip, noise]) {
      const all = [...honest, attacker];
      const withSelf = deltaCosine(attacker.delta, coordinateMedianByBlock(all));
      const loo = leaveOneOutAgreement(all);
      assert.ok(withSelf > 0.3, `${attacker.deviceId}: cosine with the median of all ${withSelf}`);
      assert.ok(loo[3]!.cosine < AGREEMENT_Z * loo[3]!.sigma, `${attacker.deviceId}: cosine with the others' median ${JSON.stringify(loo[3])}`);
      for (let i = 0; i < 3; i++) assert.ok(loo[i]!.cosine > AGREEMENT_Z * loo[i]!.sigma, `honest ${i}: ${JSON.stringify(loo[i])}`);
      const { report } = robustAggregateWithReport(all, { rule: 'cosine-mean', clipNorm: 'auto' });
      assert.deepEqual(report.updates.filter((u) => !u.kept).map((u) => u.label), [attacker.deviceId]);
      assert.match(formatRobustReport(report), new RegExp(`dropped ${attacker.deviceId} \\(cos -?\\d`));
    }
  });

  it('drops nothing from an honest set, and the attacked aggregate equals the clean one exactly once the attacker is dropped', () => {
    const clean = robustAggregateWithReport(honest, { rule: 'cosine-mean', clipNorm: 'auto' });
    assert.deepEqual(clean.report.updates.map((u) => u.kept), [true, true, true]);
    for (const attacker of [flip, noise]) {
      assert.deepEqual(toPlain(robustAggregateByBlock([...honest, attacker], { rule: 'cosine-mean', clipNorm: 'auto' })), toPlain(clean.delta));
    }
    // Both attackers at once (2 of 5, near a median's breakdown point): both dropped, and an honest one may go with them.
    const both = robustAggregateWithReport([...honest, flip, noise], { rule: 'cosine-mean', clipNorm: 'auto' });
    const dropped = both.report.updates.filter((u) => !u.kept).map((u) => u.label);
    assert.ok(dropped.includes('flip') && dropped.includes('noise') && dropped.length <= 3, dropped.join(', '));
  });

  it('when honest updates barely agree, pairs find the majority where the median of the others fails', () => {
    const r = seededRandom(11);
    const g = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    const shared = Array.from({ length: DIM }, g);
    const weak = (k: number) => up(`w${k}`, shared.map((c) => 0.2 * c + g()));
    const all = [weak(0), weak(1), weak(2), up('flip', weak(3).delta.get('1')!.get('A')!.data.map((v) => -v) as unknown as number[])];
    const loo = leaveOneOutAgreement(all);
    assert.ok(loo.slice(0, 3).some((a) => a.cosine < AGREEMENT_Z * a.sigma), 'the flip bends the others\' median below chance for some honest update');
    const pairs = pairwiseAgreement(all);
    assert.ok(pairs[0]![1]!.cosine > AGREEMENT_Z * pairs[0]![1]!.sigma && pairs[0]![3]!.cosine < 0);
    assert.deepEqual(agreeingUpdates(all).map((u) => (u as ClientUpdate).deviceId), ['w0', 'w1', 'w2']);
  });

  it('the median of the others per coordinate is what a brute-force median without the update gives', () => {
    const small = [3, 5, 4, 6, 2].map((n, k) => up(`s${k}`, Array.from({ length: 40 }, () => Math.round(gauss() * 10) / n)));
    const got = leaveOneOutCosines(small);
    small.forEach((u, k) => {
      const others = small.filter((_, j) => j !== k);
      assert.ok(Math.abs(got[k]! - deltaCosine(u.delta, coordinateMedianByBlock(others))) < 1e-6, `update ${k}`); // that median is float32
    });
    assert.ok(Number.isNaN(leaveOneOutCosines([honest[0]!])[0]!));
  });
});
