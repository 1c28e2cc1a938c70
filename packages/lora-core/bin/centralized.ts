/**
 * Centralized baseline: LoRA fine-tuning of USE-lite on the pooled WordNet training split, compared
 * with a linear probe on frozen features and with the majority class.
 *
 *   npm run centralized -- --quick            (< 10 min on 2 cores)
 *   npm run centralized -- --depth 2 --epochs 3 --backend cpu
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { fetchUseLiteAsset, loadTask, loadWordNetGlosses, readTaskSpec, useBackend } from '../node';
import type { NodeBackend } from '../node';
import {
  DEFAULT_LORA,
  LoraClassifier,
  batchesPerPass,
  bucketedTrainingBatches,
  evaluateProbe,
  extractFeatures,
  fitProbe,
  lengthSortedBatches,
  loadUseLiteModel,
  majorityClassAccuracy,
  seededSplit,
  trainingLoop,
  withMaxTokens,
} from '../src';
import type { LabeledDataset } from '../src';
import { formatTable, num, pct, secs } from './format-table';

const HELP = `usage: npm run centralized -- [options]
  --task T             built-in task (wordnet) or a task file (JSON): its training rows and evaluation set
                       (eval file, else its holdout; all rows); default: WordNet with the options below
  --quick              small setting that finishes in < 10 min on 2 cores (150/class, 3 epochs, max-len 48)
  --backend wasm|cpu   tfjs backend (default wasm)
  --depth N            fine-tuning depth 1..4 (default 4)
  --rank N             LoRA rank (default 8, or the task's; alpha = 2·rank)
  --epochs N           LoRA epochs over the training split (default 3; quick 3)
  --max-per-class N    cap per class before the split (default 300; quick 150)
  --top-k N            classes kept, most frequent first (default 20)
  --test-fraction F    held-out share per class (default 0.2)
  --batch N            batch size (default 32)
  --max-len N          tokens kept per text (default 64, or the task's maxTokens; quick 48)
  --bucket N           training batches per length bucket (default 8; 1 = plain shuffled batches)
  --lr F               LoRA learning rate (default 1e-3, or the task's)
  --head-lr F          head learning rate, LoRA and probe (default 1e-2, or the task's)
  --probe-epochs N     most linear-probe epochs; the count is chosen on a validation slice (default 200)
  --seed N             data split, init and shuffles (default 42)
  --log-every N        print a training-step line every N steps (default 25)`;

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    task: { type: 'string' },
    backend: { type: 'string', default: 'wasm' },
    depth: { type: 'string', default: '4' },
    rank: { type: 'string' },
    epochs: { type: 'string' },
    'max-per-class': { type: 'string' },
    'top-k': { type: 'string', default: '20' },
    'test-fraction': { type: 'string', default: '0.2' },
    batch: { type: 'string', default: '32' },
    'max-len': { type: 'string' },
    bucket: { type: 'string', default: '8' },
    lr: { type: 'string' },
    'head-lr': { type: 'string' },
    'probe-epochs': { type: 'string', default: '200' },
    seed: { type: 'string', default: '42' },
    'log-every': { type: 'string', default: '25' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});


async function main(): Promise<void> {
  if (a.help) {
    console.log(HELP);
    return;
  }
  const t0 = performance.now();
  if (a.backend !== 'wasm' && a.backend !== 'cpu') throw new Error(`--backend must be wasm or cpu, got "${a.backend}"`);
  const backend: NodeBackend = a.backend;
  // A task's own settings are the defaults of the flags it has (read before the encoder is cut to its max tokens).
  const spec = a.task === undefined ? undefined : readTaskSpec(a.task);
  const cfg = {
    depth: num('depth', a.depth),
    rank: num('rank', a.rank ?? String(spec?.lora.rank ?? 8)),
    epochs: num('epochs', a.epochs ?? '3'),
    maxPerClass: num('max-per-class', a['max-per-class'] ?? (a.quick ? '150' : '300')),
    topK: num('top-k', a['top-k']),
    testFraction: num('test-fraction', a['test-fraction'], false),
    batch: num('batch', a.batch),
    maxLen: num('max-len', a['max-len'] ?? (a.quick ? '48' : String(spec?.maxTokens ?? 64))),
    bucket: num('bucket', a.bucket),
    lr: num('lr', a.lr ?? String(spec?.defaults.learningRate ?? 1e-3), false),
    headLr: num('head-lr', a['head-lr'] ?? String(spec?.defaults.headLearningRate ?? 1e-2), false),
    probeEpochs: num('probe-epochs', a['probe-epochs']),
    seed: num('seed', a.seed),
    logEvery: num('log-every', a['log-every']),
  };

  await useBackend(backend);
  const encoder = withMaxTokens(await loadUseLiteModel(fetchUseLiteAsset), cfg.maxLen);
  let train: LabeledDataset;
  let test: LabeledDataset;
  if (a.task === undefined) {
    ({ train, test } = seededSplit(loadWordNetGlosses({ topK: cfg.topK, maxPerClass: cfg.maxPerClass, seed: cfg.seed }), cfg.testFraction, cfg.seed));
  } else {
    const task = loadTask(a.task, { seed: cfg.seed, ...(a['max-per-class'] === undefined ? {} : { maxPerClass: cfg.maxPerClass }), evalRows: 'all' });
    if (!task.data.train || !task.data.evalSet) throw new Error(`task "${task.spec.name}" needs training rows and an evaluation set for the centralized baseline`);
    train = task.data.train;
    test = task.data.evalSet;
  }
  const dataset = train;
  const numClasses = dataset.classNames.length;
  console.log(`tfjs ${backend} · USE-lite (${encoder.blocks.length} blocks) · max ${cfg.maxLen} tokens · loaded in ${secs(performance.now() - t0)}`);
  console.log(
    a.task === undefined
      ? `WordNet glosses: top ${numClasses} lexicographer classes, ≤${cfg.maxPerClass}/class → ${train.texts.length} train / ${test.texts.length} test`
      : `task ${a.task}: ${numClasses} labels (${dataset.classNames.slice(0, 12).join(', ')}${numClasses > 12 ? ', …' : ''}) → ${train.texts.length} train / ${test.texts.length} eval`,
  );
  const evalBatches = () => lengthSortedBatches(encoder, test, 64);

  const majority = majorityClassAccuracy(train.labels, test.labels);
  console.log(`\nmajority class (${dataset.classNames[majority.label]}): test accuracy ${pct(majority.accuracy)}`);

  console.log('\nlinear probe on frozen features');
  let tp = performance.now();
  const trainFeatures = await extractFeatures(encoder, train, 64);
  const testFeatures = await extractFeatures(encoder, test, 64);
  const featureMs = performance.now() - tp;
  tp = performance.now();
  const probe = await fitProbe(trainFeatures, {
    numClasses,
    epochs: cfg.probeEpochs,
    patience: 10,
    batchSize: cfg.batch,
    learningRate: cfg.headLr,
    seed: cfg.seed,
  });
  const probeFitMs = performance.now() - tp;
  const probeTrain = await evaluateProbe(probe, trainFeatures);
  const probeTest = await evaluateProbe(probe, testFeatures);
  console.log(
    `  features ${secs(featureMs)} · ${probe.epochs} epochs (early-stopped on 10% of train) ${secs(probeFitMs)} · train acc ${pct(probeTrain.accuracy)} · ` +
      `test acc ${pct(probeTest.accuracy)} loss ${probeTest.loss.toFixed(3)}`,
  );

  const lora = { ...DEFAULT_LORA, rank: cfg.rank, alpha: 2 * cfg.rank };
  const clf = new LoraClassifier(encoder, {
    numClasses,
    depth: cfg.depth,
    lora,
    learningRate: cfg.lr,
    headLearningRate: cfg.headLr,
    seed: cfg.seed,
  });
  const rows = Array.from({ length: train.texts.length }, (_, i) => i);
  const perEpoch = batchesPerPass(rows.length, cfg.batch);
  console.log(
    `\nLoRA depth ${cfg.depth}, rank ${lora.rank}, alpha ${lora.alpha}, targets ${lora.targets.join('+')} · ` +
      `${clf.trainableParameters.toLocaleString('en')} trainable parameters · batch ${cfg.batch} (length buckets of ${cfg.bucket}) · ` +
      `${perEpoch} steps/epoch · ` +
      `lr ${cfg.lr} (head ${cfg.headLr})`,
  );
  const epochRows: string[][] = [['epoch', 'train loss', 'test loss', 'test acc', 'train time', 'ms/step']];
  let last = { accuracy: 0, loss: 0, count: 0 };
  let trainMs = 0;
  let windowMs = 0;
  let windowLoss = 0;
  let windowSteps = 0;
  const loop = trainingLoop(clf, {
    epochsPerRound: cfg.epochs,
    batchesPerEpoch: perEpoch,
    batches: bucketedTrainingBatches(encoder, train, rows, cfg.batch, cfg.seed, cfg.bucket),
    evaluationBatches: evalBatches,
  });
  for await (const e of loop) {
    if (e.kind === 'batch') {
      windowMs += e.ms;
      windowLoss += e.loss;
      windowSteps++;
      if (e.step % cfg.logEvery === 0) {
        console.log(`  step ${e.step}/${perEpoch * cfg.epochs}  loss ${(windowLoss / windowSteps).toFixed(3)}  ${(windowMs / windowSteps).toFixed(0)} ms/step`);
        windowMs = windowLoss = windowSteps = 0;
      }
    } else if (e.kind === 'epoch' && e.evaluation) {
      last = e.evaluation;
      trainMs += e.ms;
      console.log(
        `epoch ${e.epoch + 1}/${cfg.epochs}: train loss ${e.meanLoss.toFixed(3)} · test acc ${pct(last.accuracy)} loss ${last.loss.toFixed(3)} · ` +
          `${secs(e.ms)} training, ${secs(e.evaluationMs ?? 0)} eval`,
      );
      epochRows.push([`${e.epoch + 1}`, e.meanLoss.toFixed(3), last.loss.toFixed(3), pct(last.accuracy), secs(e.ms), (e.ms / e.steps).toFixed(0)]);
    }
  }
  const trainableParameters = clf.trainableParameters;
  clf.dispose();

  console.log(`\n${formatTable(epochRows)}`);
  const headParams = encoder.featureDim * numClasses + numClasses;
  const summary = [
    ['method', 'test acc', 'test loss', 'trainable params', 'train time'],
    [`LoRA d=${cfg.depth} r=${lora.rank}, ${cfg.epochs} epochs`, pct(last.accuracy), last.loss.toFixed(3), trainableParameters.toLocaleString('en'), secs(trainMs)],
    [`linear probe (frozen features), ${probe.epochs} epochs`, pct(probeTest.accuracy), probeTest.loss.toFixed(3), headParams.toLocaleString('en'), secs(featureMs + probeFitMs)],
    ['majority class', pct(majority.accuracy), '-', '0', '-'],
  ];
  console.log(`\n${formatTable(summary)}`);
  console.log(`\nLoRA − probe: ${((last.accuracy - probeTest.accuracy) * 100).toFixed(1)} points · wall time ${secs(performance.now() - t0)}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
