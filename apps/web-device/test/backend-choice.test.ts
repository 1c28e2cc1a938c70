import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseBackend, FALLBACK_WEBGPU_MARGIN } from '../src/backend/choose';

describe('chooseBackend', () => {
  it('takes the fastest backend that worked', () => {
    assert.equal(
      chooseBackend([
        { name: 'webgpu', ms: null, error: 'no adapter' },
        { name: 'webgl', ms: 40 },
        { name: 'wasm', ms: 25 },
        { name: 'cpu', ms: 300 },
      ]),
      'wasm',
    );
    assert.equal(chooseBackend([{ name: 'webgpu', ms: 5, fallbackAdapter: false }, { name: 'wasm', ms: 25 }]), 'webgpu');
  });

  it('never lets a fallback WebGPU adapter beat a faster wasm, and wants a clear margin to win at all', () => {
    assert.equal(chooseBackend([{ name: 'webgpu', ms: 30, fallbackAdapter: true }, { name: 'wasm', ms: 25 }]), 'wasm');
    assert.equal(chooseBackend([{ name: 'webgpu', ms: 24, fallbackAdapter: true }, { name: 'wasm', ms: 25 }]), 'wasm');
    assert.equal(chooseBackend([{ name: 'webgpu', ms: 25 * FALLBACK_WEBGPU_MARGIN - 1, fallbackAdapter: true }, { name: 'wasm', ms: 25 }]), 'webgpu');
    // Without a working wasm, a software adapter competes on time alone.
    assert.equal(chooseBackend([{ name: 'webgpu', ms: 90, fallbackAdapter: true }, { name: 'wasm', ms: null }, { name: 'cpu', ms: 200 }]), 'webgpu');
  });

  it('explains itself when nothing works', () => {
    assert.throws(
      () => chooseBackend([{ name: 'webgpu', ms: null, error: 'no adapter' }, { name: 'cpu', ms: Number.NaN }]),
      /no tfjs backend works here: webgpu: no adapter; cpu: unavailable/,
    );
  });
});
