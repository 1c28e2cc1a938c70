/** The coordinator's door into @tabfleet/lora-core's Node-only helpers (file access, tfjs backend in Node). */
export { fetchUseLiteAsset, loadWordNetGlosses, useBackend, useLiteAssetDir } from '@tabfleet/lora-core/node';
