/**
 * Registers every tfjs backend the page may use, and the gradients training needs. Importing the
 * webgpu backend makes it the default as a side effect, so callers always `await tf.setBackend(x)`
 * and read `tf.getBackend()` back.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-core/dist/register_all_gradients';

/** The coordinator serves tfjs-backend-wasm's binaries here. */
export const WASM_PATH = '/tfjs-wasm/';

setWasmPaths(WASM_PATH);
