/** Node-only shell around the core: backends, model files, datasets read from installed packages. */
export { useBackend } from './backend';
export type { NodeBackend } from './backend';
export { fetchUseLiteAsset, folderAssetFetcher, useLiteAssetDir } from './model-files';
export { readUseLiteVocab } from './assets';
export { WORDNET_DATA_FILES, loadWordNetGlosses, readWordNetItems, wordNetDictDir } from './wordnet';
export type { LoadWordNetOptions } from './wordnet';
export { describeTask, loadTask, loadTaskFromFiles, readTaskSpec } from './task-files';
export type { LoadedTask, TaskOverrides } from './task-files';
export { buildModelManifest, buildModelManifestSync, directoryReader, loadHfModelFromDir, safetensorsFloat32Bytes } from './hf';
export { ALL_ROWS_CATEGORY, describeLmTask, loadLmTaskData } from './lm-task';
export type { LmTaskData } from './lm-task';
export { modelDirectoryHandler } from './hf-serve';
export type { ModelDirectoryHandler } from './hf-serve';
