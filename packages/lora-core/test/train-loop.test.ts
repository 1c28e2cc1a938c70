import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { loadWordNetGlosses } from '../node/wordnet';
import { createRng } from '../src/data/random';
import type { LabeledDataset } from '../src/data/types';
import type { TokenBatch } from '../src/model/family';
import type { UseLiteEncoder } from '../src/model/use-lite';
import { majorityClassAccuracy } from '../src/lora/baselines';
import { makeBatch, trainingBatches } from '../src/lora/batching';
import { LoraClassifier, type LabeledBatch } from '../src/lora/classifier';
import { DEFAULT_LORA } from '../src/lora/config';
import { extractFeatures, type FeatureSet } from '../src/lora/features';
import { bucketedTrainingBatches, lengthSortedBatches, tokenLengths } from '../src/lora/length-buckets';
import { truncateTokens, withMaxTokens } from '../src/lora/max-tokens';
import { evaluateProbe, fitProbe, trainLinearProbe } from '../src/lora/probe';
import { median, timeRuns } from '../src/lora/step-timing';
import { batchesPerPass, trainingLoop, type TrainingEvent } from '../src/lora/train-loop';
import { realEncoder } from './helpers';

let encoder: UseLiteEncoder;
/** 4 lexicographer classes × 2 real WordNet glosses. */
let tiny: LabeledDataset;

before(async () => {
  encoder = await realEncoder('wasm');
  tiny = loadWordNetGlosses({ topK: 4, maxPerClass: 2, seed: 3 });
});

function tinyClassifier(depth = 1): LoraClassifier {
  // 16 tokens per gloss keeps the steps fast; the loop does not care about length.
  return new LoraClassifier(withMaxTokens(encoder, 16), { numClasses: 4, depth, lora: DEFAULT_LORA, learningRate: 3e-3, headLearningRate: 3e-2, seed: 5 });
}

function repeat(batch: LabeledBatch): Iterator<LabeledBatch> {
  return { next: () => ({ done: false, value: batch }) };
}

test('trainingLoop yields rounds → epochs → batches in order and the loss on a fixed batch goes down', async () => {
  const clf = tinyClassifier();
  try {
    const batch = makeBatch(withMaxTokens(encoder, 16), tiny, Array.from({ length: tiny.texts.length }, (_, i) => i));
    const before = await clf.loss(batch);
    const events: TrainingEvent[] = [];
    let tensorsAfterFirstStep = 0;
    for await (const e of trainingLoop(clf, { rounds: 2, epochsPerRound: 2, batchesPerEpoch: 1, batches: repeat(batch), evaluationBatches: () => [batch] })) {
      // Adam creates its moment variables on the first step; from then on the count must stay flat.
      if (e.kind === 'batch' && e.step === 1) tensorsAfterFirstStep = tf.memory().numTensors;
      events.push(e);
    }
    assert.equal(tf.memory().numTensors, tensorsAfterFirstStep, 'the loop leaks no tensors');
    const shape = events.map((e) => (e.kind === 'batch' ? 'b' : e.kind === 'epoch' ? 'E' : 'R')).join('');
    assert.equal(shape, 'bEbER' + 'bEbER');
    const steps = events.flatMap((e) => (e.kind === 'batch' ? [e] : []));
    assert.deepEqual(steps.map((s) => s.step), [1, 2, 3, 4]);
    assert.deepEqual(steps.map((s) => `${s.round}.${s.epoch}.${s.batch}`), ['0.0.0', '0.1.0', '1.0.0', '1.1.0']);
    // The head starts at zero: the first step sees uniform predictions, loss ln(4).
    assert.ok(Math.abs((steps[0]?.loss ?? 0) - Math.log(4)) < 1e-4, `first loss ${steps[0]?.loss}`);
    assert.ok(Math.abs(before - Math.log(4)) < 1e-4);
    const lastEpoch = events.filter((e) => e.kind === 'epoch').at(-1);
    assert.ok(lastEpoch?.kind === 'epoch' && lastEpoch.evaluation);
    const after = await clf.loss(batch);
    assert.ok(after < 0.8 * before, `loss ${before} → ${after} after 4 steps on one batch`);
    assert.ok(Math.abs(lastEpoch.evaluation.loss - after) < 1e-4, 'the epoch evaluation is the model after that epoch');
    const firstEpoch = events.find((e) => e.kind === 'epoch');
    assert.ok(firstEpoch?.kind === 'epoch' && firstEpoch.evaluation && firstEpoch.evaluation.loss > lastEpoch.evaluation.loss);
    const round = events.find((e) => e.kind === 'round');
    assert.ok(round?.kind === 'round');
    assert.equal(round.steps, 2);
    assert.ok(Math.abs(round.meanLoss - steps.slice(0, 2).reduce((s, x) => s + x.loss, 0) / 2) < 1e-6, 'equal batches: the round mean is the plain mean');
  } finally {
    clf.dispose();
  }
});

test('trainingLoop stops training when the consumer breaks, and fails loudly when the batch source runs dry', async () => {
  let calls = 0;
  const model = {
    trainStep: async () => ({ loss: 1 / ++calls }),
    evaluate: async () => ({ accuracy: 0, loss: 0, count: 0 }),
  };
  const batch: LabeledBatch = { tokens: { ids: new Int32Array([1]), lengths: new Int32Array([1]), batch: 1, seqLen: 1 }, labels: new Int32Array([0]) };
  for await (const e of trainingLoop(model, { epochsPerRound: 5, batchesPerEpoch: 10, batches: repeat(batch) })) {
    if (e.kind === 'batch' && e.step === 3) break;
  }
  assert.equal(calls, 3);
  const twoBatches = [batch, batch][Symbol.iterator]();
  await assert.rejects(async () => {
    for await (const _ of trainingLoop(model, { epochsPerRound: 1, batchesPerEpoch: 3, batches: twoBatches }));
  }, /ran dry in round 0, epoch 0, batch 2/);
  assert.throws(() => batchesPerPass(10, 0), RangeError);
  assert.equal(batchesPerPass(10, 4), 3);
});

/** Three Gaussian clusters in 8-d, far apart relative to their spread. */
function clusters(perClass: number, seed: number): FeatureSet {
  const rng = createRng(seed);
  const dim = 8;
  const means = [0, 1, 2].map((c) => Array.from({ length: dim }, (_, j) => (j % 3 === c ? 1 : -0.5)));
  const count = 3 * perClass;
  const features = new Float32Array(count * dim);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = i % 3;
    labels[i] = c;
    for (let j = 0; j < dim; j++) features[i * dim + j] = (means[c]?.[j] as number) + 0.3 * rng.normal();
  }
  return { features, labels, dim, count };
}

test('the linear probe separates separable features, and its loss falls epoch by epoch', async () => {
  const train = clusters(30, 1);
  const test = clusters(20, 2);
  const untrained = await evaluateProbe({ W: { shape: [8, 3], data: new Float32Array(24) }, b: { shape: [3], data: new Float32Array(3) }, epochLosses: [], epochs: 0 }, test);
  assert.ok(Math.abs(untrained.loss - Math.log(3)) < 1e-5);
  const probe = await trainLinearProbe(train, { numClasses: 3, epochs: 30, batchSize: 16, learningRate: 3e-2, seed: 4 });
  assert.equal(probe.epochLosses.length, 30);
  assert.ok((probe.epochLosses.at(-1) as number) < 0.5 * (probe.epochLosses[0] as number), `${probe.epochLosses}`);
  const r = await evaluateProbe(probe, test);
  assert.equal(r.count, 60);
  assert.ok(r.accuracy >= 0.95, `probe test accuracy ${r.accuracy}`);
  assert.ok(r.loss < untrained.loss);
});

test('fitProbe keeps the epoch count with the lowest validation loss', async () => {
  const train = clusters(40, 6);
  const probe = await fitProbe(train, { numClasses: 3, epochs: 40, patience: 40, batchSize: 16, learningRate: 3e-2, seed: 8, validationFraction: 0.25 });
  const losses = probe.validationLosses;
  assert.equal(losses.length, 40, 'patience ≥ epochs: no early stop');
  assert.equal(probe.epochs, losses.indexOf(Math.min(...losses)) + 1);
  assert.equal(probe.epochLosses.length, probe.epochs, 'the refit on all rows runs the chosen epoch count');
  assert.ok((await evaluateProbe(probe, clusters(20, 9))).accuracy >= 0.95);
});

test('extractFeatures returns each row at its own index although it batches by length', async () => {
  const data: LabeledDataset = {
    texts: ['a very long gloss about the many small things that a person might carry in a bag', 'dog', 'a cat', 'the quick brown fox'],
    labels: new Int32Array([0, 1, 0, 1]),
    classNames: ['x', 'y'],
  };
  const set = await extractFeatures(encoder, data, 2);
  assert.equal(set.count, 4);
  assert.deepEqual([...set.labels], [0, 1, 0, 1]);
  for (let row = 0; row < 4; row++) {
    const single = await extractFeatures(encoder, { ...data, texts: [data.texts[row] as string], labels: new Int32Array([0]) }, 1);
    const got = set.features.subarray(row * set.dim, (row + 1) * set.dim);
    const maxDiff = got.reduce((m, v, j) => Math.max(m, Math.abs(v - (single.features[j] as number))), 0);
    assert.ok(maxDiff < 1e-4, `row ${row} differs by ${maxDiff}`);
    const norm = Math.hypot(...got);
    assert.ok(Math.abs(norm - 1) < 1e-4, 'pooled features are L2-normalised');
  }
});

test('truncateTokens keeps the first maxLen tokens and re-pads', () => {
  const batch: TokenBatch = { ids: new Int32Array([5, 6, 7, 8, 9, 3, 4, 0, 0, 0]), lengths: new Int32Array([5, 2]), batch: 2, seqLen: 5 };
  const t = truncateTokens(batch, 3);
  assert.equal(t.seqLen, 3);
  assert.deepEqual([...t.ids], [5, 6, 7, 3, 4, 0]);
  assert.deepEqual([...t.lengths], [3, 2]);
  assert.equal(truncateTokens(batch, 5), batch);
  const capped = withMaxTokens(encoder, 4);
  assert.equal(capped.maxSeqLen, 4);
  const tokens = capped.tokenize(['a fairly long sentence with many words in it', 'hi']);
  assert.equal(tokens.seqLen, 4);
  assert.deepEqual([...tokens.ids.subarray(0, 4)], [...encoder.tokenize(['a fairly long sentence with many words in it']).ids.subarray(0, 4)]);
});

test('length-bucketed batches cover every row once per epoch with less padding than shuffled batches', () => {
  const data = loadWordNetGlosses({ topK: 5, maxPerClass: 40, seed: 2 });
  const rows = Array.from({ length: data.texts.length }, (_, i) => i);
  const perEpoch = batchesPerPass(rows.length, 8);
  const padding = (it: Iterator<LabeledBatch>) => {
    let pad = 0;
    const seen: number[] = [];
    for (let i = 0; i < perEpoch; i++) {
      const b = it.next().value as LabeledBatch;
      pad += b.tokens.batch * b.tokens.seqLen - b.tokens.lengths.reduce((s, n) => s + n, 0);
      seen.push(b.tokens.batch);
    }
    return { pad, rows: seen.reduce((s, n) => s + n, 0) };
  };
  const bucketed = padding(bucketedTrainingBatches(encoder, data, rows, 8, 1, 8));
  const plain = padding(trainingBatches(encoder, data, rows, 8, 1));
  assert.equal(bucketed.rows, rows.length);
  assert.ok(bucketed.pad < 0.6 * plain.pad, `padding tokens: bucketed ${bucketed.pad}, shuffled ${plain.pad}`);

  // Every row exactly once per epoch: label each row with its own index to see which rows a batch holds.
  const byRow: LabeledDataset = { ...data, labels: Int32Array.from(rows) };
  const it = bucketedTrainingBatches(encoder, byRow, rows, 8, 3, 4);
  for (let epoch = 0; epoch < 2; epoch++) {
    const seen: number[] = [];
    for (let i = 0; i < perEpoch; i++) seen.push(...(it.next().value as LabeledBatch).labels);
    assert.deepEqual(seen.sort((x, y) => x - y), rows, `epoch ${epoch} covers each row once`);
  }
  assert.deepEqual([...tokenLengths(encoder, data, [0, 5])], [0, 5].map((r) => encoder.tokenize([data.texts[r] as string]).lengths[0]));

  const sorted = [...lengthSortedBatches(encoder, data, 16)];
  assert.equal(sorted.reduce((s, b) => s + b.labels.length, 0), rows.length);
  const seqLens = sorted.map((b) => b.tokens.seqLen);
  assert.deepEqual(seqLens, [...seqLens].sort((x, y) => x - y), 'evaluation batches grow in length');
});

test('majorityClassAccuracy picks the most frequent training label (lowest id on ties)', () => {
  assert.deepEqual(majorityClassAccuracy(new Int32Array([2, 2, 1]), new Int32Array([2, 0, 0, 2])), { label: 2, accuracy: 0.5 });
  assert.deepEqual(majorityClassAccuracy(new Int32Array([3, 1, 1, 3]), new Int32Array([1, 3, 3, 3])), { label: 1, accuracy: 0.25 });
  assert.throws(() => majorityClassAccuracy(new Int32Array(0), new Int32Array([1])));
});

test('timeRuns times only the runs after warm-up; median handles odd and even counts', async () => {
  let clock = 0;
  let call = 0;
  const durations = [100, 100, 3, 1, 2];
  const ms = await timeRuns(async () => void (clock += durations[call++] as number), { warmup: 2, runs: 3, now: () => clock });
  assert.deepEqual(ms, [3, 1, 2]);
  assert.equal(median(ms), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]));
});
