/** The coordinator's door into @tabfleet/lora-core's Node-only helpers (file access, tfjs backend in Node). */
export { useLiteAssetDir, fetchUseLiteAsset } from '../../../packages/lora-core/node/model-files';
export { loadWordNetGlosses } from '../../../packages/lora-core/node/wordnet';
export { useBackend } from '../../../packages/lora-core/node/backend';
