import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { fetchUseLiteAsset } from '../node/model-files';
import { parseModelJson } from '../src/model/weights-manifest';
import { SENTENCES, realEncoder } from './helpers';

/** The package's own GraphModel, fed the sparse (indices, values) input it was exported with. */
async function referenceEmbeddings(rows: number[][]): Promise<Float32Array> {
  const modelJson = parseModelJson(await fetchUseLiteAsset('model.json'));
  const group = modelJson.weightsManifest[0]!;
  const shards = await Promise.all(group.paths.map((p) => fetchUseLiteAsset(p)));
  const bytes = new Uint8Array(shards.reduce((n, s) => n + s.byteLength, 0));
  let at = 0;
  for (const s of shards) {
    bytes.set(new Uint8Array(s), at);
    at += s.byteLength;
  }
  const graph = await loadGraphModel({
    load: async () => ({
      modelTopology: modelJson.modelTopology as object,
      weightSpecs: group.weights as tf.io.WeightsManifestEntry[],
      weightData: bytes.buffer,
      format: 'graph-model',
    }),
  });
  const indices: number[][] = [];
  const values: number[] = [];
  rows.forEach((r, i) => r.forEach((id, j) => (indices.push([i, j]), values.push(id))));
  const out = (await graph.executeAsync({
    indices: tf.tensor2d(indices, [indices.length, 2], 'int32'),
    values: tf.tensor1d(values, 'int32'),
  })) as tf.Tensor;
  const data = (await out.data()) as Float32Array;
  out.dispose();
  graph.dispose();
  return data;
}

for (const backend of ['wasm', 'cpu'] as const) {
  test(`re-implemented USE-lite matches the package's GraphModel sentence embeddings (${backend})`, async () => {
    const encoder = await realEncoder(backend);
    const tokens = encoder.tokenize(SENTENCES);
    const rows = SENTENCES.map((_, i) => Array.from(tokens.ids.subarray(i * tokens.seqLen, i * tokens.seqLen + (tokens.lengths[i] as number))));
    assert.ok(rows.every((r) => r.length > 0), 'every sentence has tokens');
    const ctx = encoder.prepare(tokens);
    let x = encoder.embed(tokens);
    for (const b of encoder.blocks) x = encoder.runBlock(b.index, x, ctx);
    const ours = (await encoder.pool(x, ctx).data()) as Float32Array;
    const reference = await referenceEmbeddings(rows);
    assert.equal(ours.length, reference.length);
    assert.equal(ours.length, SENTENCES.length * encoder.featureDim);
    let maxDiff = 0;
    for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs((ours[i] as number) - (reference[i] as number)));
    assert.ok(maxDiff <= 1e-5, `max abs difference ${maxDiff} > 1e-5`);
    // Different sentences give different embeddings (guards against a degenerate pass that matches trivially).
    let d01 = 0;
    for (let i = 0; i < encoder.featureDim; i++) d01 += Math.abs((ours[i] as number) - (ours[encoder.featureDim + i] as number));
    assert.ok(d01 > 0.1);
  });
}

test('USE-lite structure: 4 blocks (attention, FFN) × 2 layers, 512-d features, 128 positions', async () => {
  const encoder = await realEncoder('wasm');
  assert.deepEqual(encoder.blocks.map((b) => b.kind), ['attention', 'ffn', 'attention', 'ffn']);
  assert.equal(encoder.featureDim, 512);
  assert.equal(encoder.maxSeqLen, 128);
  assert.deepEqual(encoder.blocks[0]!.linears.map((l) => [l.target, l.inDim, l.outDim]), [['qkv', 256, 768], ['attn_out', 256, 512]]);
});
