/**
 * The simulation's speed-ups change no number: identical jobs are reused exactly (compare's
 * MemoBackend), and the frozen-weight product's gradient equals the two-sided one's.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../node/backend';
import { MemoBackend } from '../bin/compare/memo';
import type { SimBackend } from '../bin/compare/backends';
import type { AdapterState } from '../src/lora/adapter-state';
import type { LocalTrainingJob, LocalTrainingResult } from '../src/sim';
import { matMul, matMulConst } from '../src/ops/matmul';

const adapter = (x: number): AdapterState => new Map([['3', new Map([['ffn_in.A', { shape: [2, 2], data: Float32Array.from([x, 1, 2, 3]) }]])]]);

class CountingBackend implements SimBackend {
  trains = 0;
  evals = 0;
  failNext = false;
  async train(job: LocalTrainingJob): Promise<LocalTrainingResult> {
    this.trains++;
    if (this.failNext) {
      this.failNext = false;
      throw new Error('boom');
    }
    const first = [...job.adapter.values()][0]!.values().next().value!.data[0]!;
    return { delta: adapter(first + job.depth), trainLoss: first, ms: 1 };
  }
  async evaluate(a: AdapterState) {
    this.evals++;
    return { accuracy: [...a.values()][0]!.values().next().value!.data[0]!, loss: 0 };
  }
  async measureMsPerStep(): Promise<number[]> {
    return [1];
  }
  async close(): Promise<void> {}
}

const job = (over: Partial<LocalTrainingJob> = {}): LocalTrainingJob => ({ deviceId: 'a', rows: [1, 2, 3], depth: 1, localSteps: 2, firstStep: 0, adapter: adapter(0.5), ...over });

describe('exact reuse of identical work (MemoBackend)', () => {
  it('computes an identical first-step job once and returns the very result; any difference in the job recomputes', async () => {
    const inner = new CountingBackend();
    const memo = new MemoBackend(inner);
    const r1 = await memo.train(job());
    const r2 = await memo.train(job({ adapter: adapter(0.5) }));
    assert.equal(inner.trains, 1);
    assert.equal(r2, r1);
    for (const other of [job({ deviceId: 'b' }), job({ depth: 2 }), job({ localSteps: 3 }), job({ rows: [1, 2, 4] }), job({ adapter: adapter(0.50001) })]) await memo.train(other);
    assert.equal(inner.trains, 6);
    // Later steps start from adapters that differ between strategies: never remembered.
    await memo.train(job({ firstStep: 2 }));
    await memo.train(job({ firstStep: 2 }));
    assert.equal(inner.trains, 8);
    assert.deepEqual(memo.stats, { trainHits: 1, trainMisses: 6, evalHits: 0, evalMisses: 0 });
  });

  it('reuses evaluations of equal adapters, and forgets failed computations', async () => {
    const inner = new CountingBackend();
    const memo = new MemoBackend(inner);
    assert.equal((await memo.evaluate(adapter(0.25))).accuracy, 0.25);
    assert.equal((await memo.evaluate(adapter(0.25))).accuracy, 0.25);
    assert.equal(inner.evals, 1);
    inner.failNext = true;
    await assert.rejects(memo.train(job()), /boom/);
    await memo.train(job());
    assert.equal(inner.trains, 2);
  });
});

describe('matMulConst', () => {
  it('gives the same value and input gradient as matMul, bit for bit', async () => {
    await useBackend('wasm');
    const x = tf.randomNormal([5, 7], 0, 1, 'float32', 3);
    const w = tf.randomNormal([7, 4], 0, 1, 'float32', 4) as tf.Tensor2D;
    const f = (mm: (a: tf.Tensor, b: tf.Tensor2D) => tf.Tensor) => tf.valueAndGrad((input: tf.Tensor) => tf.sum(tf.square(mm(input, w))));
    const a = f((p, q) => matMul(p, q))(x);
    const b = f((p, q) => matMulConst(p, q))(x);
    assert.deepEqual(Array.from(await a.value.data()), Array.from(await b.value.data()));
    assert.deepEqual(Array.from(await a.grad.data()), Array.from(await b.grad.data()));
    tf.dispose([x, w, a.value, a.grad, b.value, b.grad]);
  });
});
