/** The coordinator's door into @tabfleet/lora-core's Node-only helpers (file access, tfjs backend in Node). */
export { describeTask, fetchUseLiteAsset, loadTask, loadTaskFromFiles, useBackend, useLiteAssetDir } from '@tabfleet/lora-core/node';
export type { LoadedTask, TaskOverrides } from '@tabfleet/lora-core/node';
export { ALL_ROWS_CATEGORY, directoryReader, loadHfModelFromDir, modelDirectoryHandler } from '@tabfleet/lora-core/node';
export type { LmTaskData, ModelDirectoryHandler } from '@tabfleet/lora-core/node';
