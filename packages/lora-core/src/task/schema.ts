/**
 * The task file: one JSON document that says what a federated job trains on, with which model and
 * objective, and with which defaults. Validated with zod where it is read; every error names the
 * field (`lora.rank: must be …`). Paths are kept as written: the node/ shell resolves them against
 * the task file's folder.
 *
 * Extension points (kept open so later additions are not breaking changes):
 * - `model` is a union discriminated by `family`; today only the built-in "use-lite" encoder. A
 *   decoder family adds e.g. `{ family: "gpt2", dir: "…" }` as a new member.
 * - `objective` is a union discriminated by `type`; today "classification". "causal-lm" adds a
 *   member (and its rows are `{prompt, response}` or `{text}`: a data source's field names are
 *   per-source, see `fileSourceSchema`).
 * - A data source is a file (JSONL/CSV) or a built-in generator (`{builtin: "wordnet"}`), a union
 *   discriminated by the presence of `path` / `builtin`.
 */
import { z } from 'zod';
import { ALL_LORA_TARGETS, KNOWN_LORA_TARGETS } from '../model/family';
import type { LoraTarget } from '../model/family';

export const TASK_FILE_VERSION = 1;

/** Most rows the coordinator scores after each round unless the task or the command line says otherwise. */
export const DEFAULT_EVAL_ROWS = 2000;
export const DEFAULT_HOLDOUT_FRACTION = 0.1;
export const DEFAULT_MAX_TOKENS = 64;

const name = z
  .string()
  .min(1, 'must not be empty')
  .max(120, 'must be at most 120 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, 'must start with a letter or digit and hold only letters, digits, spaces, ".", "_" and "-"');

const label = z.string().trim().min(1, 'a label must not be empty').max(200, 'a label must be at most 200 characters');

const labelList = z
  .array(label)
  .min(2, 'must list at least 2 labels')
  .max(10_000, 'must list at most 10000 labels')
  .refine((l) => new Set(l).size === l.length, 'must not name a label twice');

/** A list of labels, or "from-train" (the distinct labels of the training rows). Checked by hand so each error says what is wrong. */
export const labelsSchema = z.unknown().transform((v, ctx): string[] | 'from-train' => {
  if (v === 'from-train') return v;
  if (!Array.isArray(v)) {
    ctx.addIssue({ code: 'custom', message: 'must be a list of at least 2 labels or "from-train"' });
    return z.NEVER;
  }
  const r = labelList.safeParse(v);
  if (r.success) return r.data;
  for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path as PropertyKey[] });
  return z.NEVER;
});

const fieldName = z.string().min(1, 'must not be empty').max(100);

/** A JSONL or CSV file of rows. */
export const fileSourceSchema = z.strictObject({
  path: z.string().min(1, 'must not be empty'),
  /** Default: from the extension (.jsonl/.ndjson, .csv). */
  format: z.enum(['jsonl', 'csv']).optional(),
  textField: fieldName.default('text'),
  labelField: fieldName.default('label'),
  /** CSV only. */
  delimiter: z.string().length(1, 'must be one character').optional(),
});

export const BUILTIN_SOURCES = ['wordnet'] as const;

/** Rows made by code shipped with tabfleet (today: WordNet glosses labeled by lexicographer file). */
export const builtinSourceSchema = z.strictObject({
  builtin: z.enum(BUILTIN_SOURCES),
  /** Keep the K most frequent labels. */
  topK: z.number().int().min(2).max(10_000).default(20),
});

export const dataSourceSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { path: v } : v),
  z.union([fileSourceSchema, builtinSourceSchema], { error: 'must be a file path, {"path": …} or {"builtin": "wordnet"}' }),
);

export const modelSchema = z.discriminatedUnion(
  'family',
  [
    z.strictObject({
      /** The built-in Universal Sentence Encoder lite (shipped with the package). */
      family: z.literal('use-lite'),
    }),
    z.strictObject({
      /**
       * A Hugging Face decoder checkpoint directory (config.json, *.safetensors, tokenizer.json);
       * its config's model_type picks the family (gpt2, llama, qwen2). Relative to the task file.
       */
      family: z.literal('hf'),
      dir: z.string().min(1, 'must not be empty'),
    }),
  ],
  { error: 'must be one of: use-lite, hf' },
);

/** `{prompt, response}` rows become `template.prompt` (with `{prompt}` replaced) + response (+ EOS). */
export const sftTemplateSchema = z.strictObject({
  prompt: z.string().min(1).max(4000).refine((t) => t.includes('{prompt}'), 'must contain "{prompt}"'),
  appendEos: z.boolean().default(true),
});

export const objectiveSchema = z.preprocess(
  (v) => (typeof v === 'string' ? { type: v } : v),
  z.discriminatedUnion(
    'type',
    [
      z.strictObject({ type: z.literal('classification') }),
      z.strictObject({
        /** Next-token fine-tuning of an `hf` model on JSONL rows `{prompt, response}` (loss on the response) or `{text}`. */
        type: z.literal('causal-lm'),
        /** Default: Alpaca-style "### Instruction:\n{prompt}\n\n### Response:\n", EOS appended. */
        template: sftTemplateSchema.optional(),
        /**
         * A categorical field of every row (e.g. "category") whose histogram devices report for
         * near-IID grouping. Without one, devices are grouped by their resources only.
         */
        categoryField: fieldName.optional(),
        /**
         * Without a categorical field: k topic clusters the coordinator finds in its evaluation set
         * (seeded k-means over the built-in sentence encoder's embeddings); devices report how many
         * of their rows fall nearest to each. Not with categoryField.
         */
        topics: z.number({ error: 'must be a whole number of topic clusters (2 to 32)' }).int('must be a whole number of topic clusters (2 to 32)').min(2, 'needs at least 2 topic clusters').max(32, 'at most 32 topic clusters').optional(),
      }),
    ],
    { error: 'must be one of: classification, causal-lm' },
  ),
);

export const loraSchema = z.strictObject({
  rank: z.number().int().min(1).max(1024).default(8),
  /** Scale numerator: the update is (alpha / rank) · B·A. Default 2 · rank. */
  alpha: z.number().positive().optional(),
  /** Default: every target of use-lite; for an hf decoder, PEFT's default targets of its family. */
  targets: z.array(z.enum(KNOWN_LORA_TARGETS as unknown as [LoraTarget, ...LoraTarget[]])).min(1, 'must name at least one target').optional(),
});

export const defaultsSchema = z.strictObject({
  batchSize: z.number().int().min(1).max(65_536).optional(),
  learningRate: z.number().positive().optional(),
  headLearningRate: z.number().positive().optional(),
  localSteps: z.number().int().min(1).optional(),
});

export const evaluationSchema = z.strictObject({
  /** Rows scored after every round: a seeded stratified sample of at most this many, or "all". */
  maxRows: z.union([z.number().int().min(1), z.literal('all')], { error: 'must be a positive integer or "all"' }).default(DEFAULT_EVAL_ROWS),
  /** Without an eval file: the share of each label held out of the training file. */
  holdoutFraction: z.number().gt(0).lt(1).default(DEFAULT_HOLDOUT_FRACTION),
});

export const taskFileSchema = z.strictObject({
  version: z.literal(TASK_FILE_VERSION, { error: `must be ${TASK_FILE_VERSION}` }).default(TASK_FILE_VERSION),
  name,
  description: z.string().max(2000).optional(),
  labels: labelsSchema.default('from-train'),
  /** Training rows, cut into one partition per simulated fleet device. Optional: a pure own-data fleet has none. */
  train: dataSourceSchema.optional(),
  /** Held-out rows the coordinator scores after every round. */
  eval: dataSourceSchema.optional(),
  /** Optional cap on training rows per label (seeded). */
  maxPerClass: z.number().int().min(1).optional(),
  model: modelSchema.default({ family: 'use-lite' }),
  objective: objectiveSchema.default({ type: 'classification' }),
  lora: loraSchema.default({ rank: 8 }),
  maxTokens: z.number().int().min(1).max(4096).default(DEFAULT_MAX_TOKENS),
  defaults: defaultsSchema.default({}),
  evaluation: evaluationSchema.default({ maxRows: DEFAULT_EVAL_ROWS, holdoutFraction: DEFAULT_HOLDOUT_FRACTION }),
});

export type TaskFile = z.output<typeof taskFileSchema>;
export type TaskFileInput = z.input<typeof taskFileSchema>;
export type DataSource = z.output<typeof fileSourceSchema> | z.output<typeof builtinSourceSchema>;
export type FileSource = z.output<typeof fileSourceSchema>;
export type BuiltinSource = z.output<typeof builtinSourceSchema>;
export type ModelSpec = z.output<typeof modelSchema>;
export type ObjectiveSpec = z.output<typeof objectiveSchema>;
export type CausalLmObjectiveSpec = Extract<ObjectiveSpec, { type: 'causal-lm' }>;
export type HfModelSpec = Extract<ModelSpec, { family: 'hf' }>;

export function isFileSource(s: DataSource): s is FileSource {
  return 'path' in s;
}

export class TaskFileError extends Error {
  constructor(
    readonly source: string,
    /** One "field.path: message" per problem. */
    readonly problems: readonly string[],
  ) {
    super(`invalid task ${source}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'TaskFileError';
  }
}

function issuePath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(task)' : path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

/** The known name within edit distance 2 of `name`, if any. */
function closest(name: string, known: readonly string[]): string | undefined {
  let best: { k: string; d: number } | undefined;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d <= 2 && (!best || d < best.d)) best = { k, d };
  }
  return best?.k;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/** Rules across fields: the objective fits the model. */
function crossFieldProblems(t: TaskFile): string[] {
  const lm = t.objective.type === 'causal-lm';
  const hf = t.model.family === 'hf';
  const problems: string[] = [];
  if (lm && !hf) problems.push('model: the causal-lm objective needs a Hugging Face decoder: {"family": "hf", "dir": "path/to/checkpoint"}');
  if (hf && !lm) problems.push('objective: an "hf" decoder model is fine-tuned with "causal-lm" (classification runs on use-lite)');
  if (t.objective.type === 'causal-lm' && t.objective.categoryField !== undefined && t.objective.topics !== undefined) {
    problems.push('objective: "categoryField" and "topics" are two ways of grouping devices; name one (the category field when the rows have one)');
  }
  if (lm && Array.isArray(t.labels)) problems.push('labels: a causal-lm task has no labels (name a "categoryField" in the objective for near-IID grouping)');
  const encoderOnly = t.lora.targets?.filter((x) => !(ALL_LORA_TARGETS as readonly string[]).includes(x)) ?? [];
  if (!hf && encoderOnly.length > 0) problems.push(`lora.targets: ${encoderOnly.join(', ')} are decoder modules; use-lite's targets are ${ALL_LORA_TARGETS.join(', ')}`);
  if (lm && t.maxTokens < 2) problems.push('maxTokens: a causal-lm task needs at least 2 tokens per row');
  for (const field of ['train', 'eval'] as const) {
    const src = t[field];
    if (lm && src && !isFileSource(src)) problems.push(`${field}: a causal-lm task reads JSONL files of {"prompt", "response"} or {"text"} rows, not built-in sources`);
    if (lm && src && isFileSource(src) && (src.format ?? (/\.(jsonl|ndjson)$/i.test(src.path) ? 'jsonl' : undefined)) !== 'jsonl') {
      problems.push(`${field}.format: a causal-lm task reads JSONL files (.jsonl / .ndjson, or "format": "jsonl")`);
    }
  }
  return problems;
}

/** Validates a parsed task document; throws TaskFileError naming every bad field. */
export function parseTaskFile(raw: unknown, source = 'task file'): TaskFile {
  const result = taskFileSchema.safeParse(raw);
  if (result.success) {
    const problems = crossFieldProblems(result.data);
    if (problems.length > 0) throw new TaskFileError(source, problems);
  }
  if (!result.success) {
    throw new TaskFileError(
      source,
      result.error.issues.map((i) => {
        if (i.code === 'unrecognized_keys') {
          const known = i.path.length === 0 ? Object.keys(taskFileSchema.shape) : [];
          const named = i.keys.map((k) => {
            const near = closest(k, known);
            return near ? `"${k}" (did you mean "${near}"?)` : `"${k}"`;
          });
          return `${issuePath(i.path)}: unknown field(s) ${named.join(', ')}`;
        }
        return `${issuePath(i.path)}: ${i.message}`;
      }),
    );
  }
  return result.data;
}

/** Parses task JSON text (a syntax error is a TaskFileError too). */
export function parseTaskJson(text: string, source = 'task file'): TaskFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TaskFileError(source, [`(task): not valid JSON (${(err as Error).message})`]);
  }
  return parseTaskFile(raw, source);
}
