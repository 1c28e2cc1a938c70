import { useBackend, type NodeBackend } from '../node/backend';
import { fetchUseLiteAsset } from '../node/model-files';
import { loadUseLiteModel, type UseLiteEncoder } from '../src/model/use-lite';

let cached: Promise<UseLiteEncoder> | undefined;

/** The real USE-lite encoder from the npm package, on the given backend (loaded once per test file). */
export async function realEncoder(backend: NodeBackend = 'wasm'): Promise<UseLiteEncoder> {
  await useBackend(backend);
  cached ??= loadUseLiteModel(fetchUseLiteAsset);
  return cached;
}

export const SENTENCES = [
  'The quick brown fox jumps over the lazy dog.',
  'a piece of furniture with a flat top and legs',
  'Federated learning keeps raw data on the device.',
  'an achievement demonstrating great skill or mastery',
  'Is this the right way to the station?',
  'x',
];
