/**
 * The page's one door into @tabfleet/lora-core. The protocol messages are imported by path until
 * lora-core's protocol index re-exports them; everything else comes from the package.
 */
export * from '../../../packages/lora-core/src/protocol/messages';
export {
  bucketedTrainingBatches,
  classCounts,
  DEFAULT_LORA,
  decodeAdapter,
  detectFormat,
  encodeAdapter,
  LabeledFileError,
  LoraClassifier,
  loadUseLiteModel,
  makeBatch,
  median,
  parseLabeledFile,
  subtractAdapters,
  timeRuns,
  toDataset,
  trainingLoop,
  UnknownLabelError,
} from '@tabfleet/lora-core';
export type { AdapterState, LabeledDataset, LoraConfig, LoraTarget, ResourceProfile, TextEncoder } from '@tabfleet/lora-core';
