/** Tasks as data: the task-file schema, label sets, seeded selections, built-in tasks. */
export {
  BUILTIN_SOURCES,
  DEFAULT_EVAL_ROWS,
  DEFAULT_HOLDOUT_FRACTION,
  DEFAULT_MAX_TOKENS,
  isFileSource,
  sftTemplateSchema,
  parseTaskFile,
  parseTaskJson,
  TASK_FILE_VERSION,
  TaskFileError,
  taskFileSchema,
} from './schema';
export type { BuiltinSource, CausalLmObjectiveSpec, DataSource, HfModelSpec, FileSource, ModelSpec, ObjectiveSpec, TaskFile, TaskFileInput } from './schema';
export { checkLabels, describeUnknownLabels, inferLabels } from './labels';
export type { LabelCheck } from './labels';
export { stratifiedSample } from './split';
export { BUILTIN_TASK_NAMES, BUILTIN_TASKS, isBuiltinTaskName } from './builtin';
export type { BuiltinTaskName } from './builtin';
export { resolveTaskData } from './resolve';
export type { EvalSource, ResolvedTaskData, ResolveOptions } from './resolve';
