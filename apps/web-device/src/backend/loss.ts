/**
 * Notices when the GPU under tfjs goes away: a lost WebGL context (the browser reclaims it under
 * memory pressure, a driver reset) or a lost WebGPU device. Every tensor on it is gone then; the
 * session switches to the next backend instead of leaving a frozen tab.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from '../core';

interface WebGLBackendLike {
  gpgpu?: { gl?: { canvas?: EventTarget } };
}
interface WebGPUBackendLike {
  device?: { lost?: Promise<{ reason?: string; message?: string }> };
}

/** Calls `onLost(why)` once if the active `name` backend loses its GPU while it is still the active one. */
export function watchBackendLoss(name: BackendName, onLost: (why: string) => void): void {
  let fired = false;
  const fire = (why: string) => {
    if (fired || tf.getBackend() !== name) return;
    fired = true;
    onLost(why);
  };
  if (name === 'webgl') {
    const canvas = (tf.backend() as unknown as WebGLBackendLike).gpgpu?.gl?.canvas;
    canvas?.addEventListener('webglcontextlost', () => fire('WebGL context lost'));
  } else if (name === 'webgpu') {
    void (tf.backend() as unknown as WebGPUBackendLike).device?.lost?.then((info) => {
      if (info.reason !== 'destroyed') fire(`WebGPU device lost${info.message ? `: ${info.message}` : ''}`);
    });
  }
}
