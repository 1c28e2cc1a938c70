export type { LabeledText, LabeledDataset } from './types';
export { createRng } from './random';
export type { Rng } from './random';
export { parseWordNetData, parseLexnames, WordNetParseError } from './wordnet';
export { WORDNET_LEXNAMES } from './wordnet-lexnames';
export {
  DEFAULT_TOP_K,
  DEFAULT_TEST_FRACTION,
  DEFAULT_SEED,
  UnknownLabelError,
  toDataset,
  classCounts,
  subsetDataset,
  selectTopKClasses,
  capPerClass,
  indicesByClass,
  seededSplit,
  prepareDataset,
} from './dataset';
export type { DatasetSplit, PrepareOptions } from './dataset';
export { parseLabeledFile, detectFormat, parseCsvRecords, LabeledFileError } from './user-file';
export type { LabeledFileFormat, LabeledFileIssue, ParseLabeledFileOptions, ParsedLabeledFile } from './user-file';
export * from './partition';
