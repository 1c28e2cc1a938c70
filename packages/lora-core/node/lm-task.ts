/**
 * Loading a causal-LM task (issue 11): `model: {family: "hf", dir}` + `objective: "causal-lm"`.
 * Reads the checkpoint's config and manifest (files, sizes, sha256: what tabs download), the JSONL
 * rows (`{prompt, response}` or `{text}`, with the task's categorical field when it names one), and
 * holds out an evaluation set when there is no eval file. The task hash covers the checkpoint's
 * manifest, so the same task on another checkpoint is another task.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { createRng } from '../src/data/random';
import { manifestBytes, manifestKey, parseDecoderConfig, type DecoderConfig, type ModelManifest } from '../src/model/hf';
import { DEFAULT_SFT_TEMPLATE, parseCausalLmJsonl, topicNames, type CausalLmRow, type SftTemplate } from '../src/objective/causal-lm';
import { isFileSource, TaskFileError, type DataSource, type TaskFile } from '../src/task';
import { buildModelManifestSync } from './hf';

/** The one histogram bin of a task without a categorical field (grouping then rests on resources). */
export const ALL_ROWS_CATEGORY = 'all rows';

export interface LmTaskData {
  /** Absolute path of the checkpoint directory. */
  readonly modelDir: string;
  readonly manifest: ModelManifest;
  /** sha256 (hex) of the manifest's files and hashes. */
  readonly modelHash: string;
  readonly modelBytes: number;
  readonly config: DecoderConfig;
  readonly modelType: string;
  readonly template: SftTemplate;
  readonly categoryField: string | undefined;
  /** Topic clusters the coordinator computes from the evaluation set (no categoryField). */
  readonly topics: number | undefined;
  /** Histogram bins: the sorted distinct categories of the rows, topic names, or [ALL_ROWS_CATEGORY]. */
  readonly categories: readonly string[];
  readonly train: readonly CausalLmRow[] | null;
  /** The whole evaluation set (eval file or holdout), or null. */
  readonly evalSet: readonly CausalLmRow[] | null;
  /** What the coordinator scores each round: evalSet or a seeded sample of it. */
  readonly evalSample: readonly CausalLmRow[] | null;
  readonly evalSource: 'file' | 'holdout' | 'none';
}

export interface LmLoadOptions {
  readonly seed: number;
  readonly evalRows?: number | 'all';
  readonly origin: string;
  readonly baseDir: string;
}

function readRows(source: DataSource, field: 'train' | 'eval', o: LmLoadOptions, categoryField: string | undefined): { rows: CausalLmRow[]; fingerprint: string } {
  if (!isFileSource(source)) throw new TaskFileError(o.origin, [`${field}: a causal-lm task reads JSONL files`]);
  const path = isAbsolute(source.path) ? source.path : resolve(o.baseDir, source.path);
  if (!existsSync(path) || !statSync(path).isFile()) throw new TaskFileError(o.origin, [`${field}.path: no such file: ${path}`]);
  const bytes = readFileSync(path);
  try {
    const rows = parseCausalLmJsonl(bytes.toString('utf8'), path, categoryField === undefined ? {} : { categoryField });
    return { rows, fingerprint: createHash('sha256').update(bytes).digest('hex') };
  } catch (err) {
    throw new TaskFileError(o.origin, [`${field}: ${(err as Error).message}`]);
  }
}

function readModel(dir: string, o: LmLoadOptions): { manifest: ModelManifest; config: DecoderConfig; modelType: string } {
  const path = isAbsolute(dir) ? dir : resolve(o.baseDir, dir);
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new TaskFileError(o.origin, [`model.dir: no such directory: ${path}`]);
  let manifest: ModelManifest;
  let raw: unknown;
  try {
    manifest = buildModelManifestSync(path);
    raw = JSON.parse(readFileSync(resolve(path, 'config.json'), 'utf8'));
  } catch (err) {
    throw new TaskFileError(o.origin, [`model.dir (${path}): ${(err as Error).message}`]);
  }
  if (!manifest.files.some((f) => f.path === 'tokenizer.json')) throw new TaskFileError(o.origin, [`model.dir (${path}): no tokenizer.json (devices tokenize their own rows with it)`]);
  if (!manifest.files.some((f) => f.path.endsWith('.safetensors'))) {
    throw new TaskFileError(o.origin, [`model.dir (${path}): no model.safetensors or model-0000i-of-0000n.safetensors shards (pickle .bin checkpoints are not read)`]);
  }
  try {
    const config = parseDecoderConfig(raw, resolve(path, 'config.json'));
    return { manifest, config, modelType: String((raw as { model_type?: unknown }).model_type) };
  } catch (err) {
    throw new TaskFileError(o.origin, [`model.dir: ${(err as Error).message}`]);
  }
}

/** Seeded shuffle of row indices. */
function shuffled(n: number, seed: number): number[] {
  return createRng(seed).shuffle(Array.from({ length: n }, (_, i) => i));
}

export function loadLmTaskData(spec: TaskFile, o: LmLoadOptions): { data: LmTaskData; fingerprint: Record<string, string | null> } {
  if (spec.model.family !== 'hf' || spec.objective.type !== 'causal-lm') throw new Error('loadLmTaskData: not a causal-lm task');
  const objective = spec.objective;
  const modelDir = isAbsolute(spec.model.dir) ? spec.model.dir : resolve(o.baseDir, spec.model.dir);
  const { manifest, config, modelType } = readModel(spec.model.dir, o);
  const categoryField = objective.categoryField;
  const trainRead = spec.train ? readRows(spec.train, 'train', o, categoryField) : null;
  const evalRead = spec.eval ? readRows(spec.eval, 'eval', o, categoryField) : null;
  let train: CausalLmRow[] | null = trainRead?.rows ?? null;
  let evalSet: CausalLmRow[] | null = evalRead?.rows ?? null;
  let evalSource: LmTaskData['evalSource'] = evalSet ? 'file' : 'none';
  if (!evalSet && train) {
    if (train.length < 2) throw new TaskFileError(o.origin, ['train: a holdout needs at least 2 training rows (or give an "eval" file)']);
    const order = shuffled(train.length, o.seed);
    const held = Math.min(train.length - 1, Math.max(1, Math.round(train.length * spec.evaluation.holdoutFraction)));
    const heldSet = new Set(order.slice(0, held));
    evalSet = train.filter((_, i) => heldSet.has(i));
    train = train.filter((_, i) => !heldSet.has(i));
    evalSource = 'holdout';
  }
  const maxRows = o.evalRows ?? spec.evaluation.maxRows;
  let evalSample = evalSet;
  if (evalSet && maxRows !== 'all' && evalSet.length > maxRows) {
    const keep = new Set(shuffled(evalSet.length, o.seed + 1).slice(0, maxRows));
    evalSample = evalSet.filter((_, i) => keep.has(i));
  }
  const topics = objective.topics;
  if (topics !== undefined && (evalSample?.length ?? 0) < topics) {
    throw new TaskFileError(o.origin, [`objective.topics: ${topics} topic clusters are computed from the evaluation set, which has ${evalSample?.length ?? 0} rows (give an "eval" file or more training rows, or fewer topics)`]);
  }
  const categories =
    topics !== undefined
      ? topicNames(topics)
      : categoryField === undefined
        ? [ALL_ROWS_CATEGORY]
        : [...new Set([...(train ?? []), ...(evalSet ?? [])].map((r) => r.category as string))].sort();
  const t = objective.template;
  const template: SftTemplate = t ? { prompt: t.prompt, appendEos: t.appendEos } : DEFAULT_SFT_TEMPLATE;
  return {
    data: {
      modelDir,
      manifest,
      modelHash: createHash('sha256').update(manifestKey(manifest)).digest('hex'),
      modelBytes: manifestBytes(manifest),
      config,
      modelType,
      template,
      categoryField,
      topics,
      categories,
      train,
      evalSet,
      evalSample,
      evalSource,
    },
    fingerprint: { train: trainRead?.fingerprint ?? null, eval: evalRead?.fingerprint ?? null },
  };
}

/** Lines for a console. */
export function describeLmTask(d: LmTaskData): string[] {
  const mb = (d.modelBytes / 2 ** 20).toFixed(1);
  return [
    `  model: ${d.modelType} from ${d.modelDir} (${d.config.layers} layers, ${mb} MiB, hash ${d.modelHash.slice(0, 12)})`,
    `  objective: causal-lm; training rows: ${d.train ? d.train.length : 'none (own-data devices only)'}`,
    d.topics !== undefined
      ? `  grouping statistic: ${d.topics} topic clusters (computed from the evaluation set with the sentence encoder; devices report how many of their rows fall in each)`
      : d.categoryField === undefined
      ? '  categories: none (no "categoryField"): near-IID grouping has no data statistic, devices are grouped by their resources only'
      : `  categories (${d.categories.length}, field "${d.categoryField}"): ${d.categories.slice(0, 12).join(', ')}${d.categories.length > 12 ? ', …' : ''}`,
    `  evaluation: ${d.evalSource === 'none' ? 'none' : `${d.evalSource}: ${d.evalSet?.length ?? 0} rows, scoring ${d.evalSample?.length ?? 0} per round (held-out loss and perplexity)`}`,
  ];
}
