/** Chooses a tfjs backend in Node explicitly and verifies the choice (setBackend can fail quietly). */
import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

// tfjs-core's Node bundle ships no gradients; its ESM gradient files use extensionless imports that
// Node's ESM loader rejects, so load them through require (tsx transpiles them). They register into
// tfjs's global registries, shared with the bundle above.
createRequire(import.meta.url)('@tensorflow/tfjs-core/dist/register_all_gradients');

export type NodeBackend = 'wasm' | 'cpu';

export async function useBackend(name: NodeBackend = 'wasm'): Promise<string> {
  const ok = await tf.setBackend(name);
  await tf.ready();
  const actual = tf.getBackend();
  if (!ok || actual !== name) throw new Error(`could not switch tfjs to the ${name} backend (active: ${actual})`);
  return actual;
}
