/**
 * Tasks shipped with tabfleet, written in the task-file format (`--task wordnet`). They are plain
 * documents: the node/ shell loads them exactly like a file, with `builtin` data sources.
 */
import type { TaskFileInput } from './schema';

export const BUILTIN_TASKS = {
  /** WordNet 3.1 glosses labeled by lexicographer file (noun.artifact, verb.motion, …): the default demo job. */
  wordnet: {
    name: 'wordnet-lexnames',
    description: 'Classify WordNet glosses by lexicographer file (top 20 classes); the evaluation set is a seeded 10% holdout per class.',
    labels: 'from-train',
    train: { builtin: 'wordnet', topK: 20 },
    model: { family: 'use-lite' },
    objective: { type: 'classification' },
    lora: { rank: 8 },
    maxTokens: 64,
    evaluation: { holdoutFraction: 0.1 },
  },
} as const satisfies Record<string, TaskFileInput>;

export type BuiltinTaskName = keyof typeof BUILTIN_TASKS;

export const BUILTIN_TASK_NAMES = Object.keys(BUILTIN_TASKS) as BuiltinTaskName[];

export function isBuiltinTaskName(s: string): s is BuiltinTaskName {
  return Object.hasOwn(BUILTIN_TASKS, s);
}
