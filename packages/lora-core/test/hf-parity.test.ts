/**
 * Numeric agreement with an independent framework: our GPT-2 / Llama / Qwen2 forward passes (batched,
 * right-padded, mixed lengths) against PyTorch logits (test/hf/reference.py, float64, unpadded rows)
 * stored in test/hf/golden.json, on the tiny checkpoints of test/hf/tiny.ts. The LoRA forward is
 * checked against the reference merging our PEFT export with PEFT's formula W + (alpha/r)·B·A.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { directoryReader, loadHfModelFromDir, useBackend } from '../node';
import { LoraCausalLm } from '../src/objective';
import { exportPeft, loadPeftAdapter } from '../src/lora/peft';
import { SafetensorsFile } from '../src/model/safetensors';
import type { TokenBatch } from '../src/model/family';
import { PARITY_CASES, caseAdapter } from './hf/cases';
import { dirHashes } from './hf/make-golden';
import { TINY_VOCAB, writeTinyCheckpoints } from './hf/tiny';

const here = dirname(fileURLToPath(import.meta.url));
const golden = JSON.parse(readFileSync(join(here, 'hf', 'golden.json'), 'utf8')) as {
  files: Record<string, { modelFiles: Record<string, string>; adapterFiles: Record<string, string> }>;
  logits: Record<string, string[]>;
};
const TOL = 1e-4;
let root: string;
let dirs: Map<string, string>;
const report: string[] = [];

before(async () => {
  await useBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'tabfleet-parity-'));
  dirs = writeTinyCheckpoints(root);
});

after(() => {
  if (report.length) console.log(`max |ours − PyTorch| per case (tolerance ${TOL}):\n  ${report.join('\n  ')}`);
});

function padded(rows: number[][]): TokenBatch {
  const seqLen = Math.max(...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * seqLen);
  rows.forEach((r, i) => ids.set(r, i * seqLen));
  return { ids, lengths: Int32Array.from(rows.map((r) => r.length)), batch: rows.length, seqLen };
}

function expected(name: string): Float32Array[] {
  const rows = golden.logits[name];
  assert.ok(rows, `golden.json has no case ${name}`);
  return rows.map((b64) => {
    const buf = Buffer.from(b64, 'base64');
    return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  });
}

function maxDiff(ours: Float32Array, rows: number[][], seqLen: number, vocab: number, ref: Float32Array[]): number {
  let worst = 0;
  rows.forEach((r, i) => {
    assert.equal(ref[i]!.length, r.length * vocab);
    for (let p = 0; p < r.length; p++) {
      for (let v = 0; v < vocab; v++) {
        const d = Math.abs(ours[(i * seqLen + p) * vocab + v]! - ref[i]![p * vocab + v]!);
        if (!(d <= worst)) worst = d; // NaN propagates as a failure
      }
    }
  });
  return worst;
}

test('the tiny checkpoints rebuild byte-identically to the files the PyTorch reference read', () => {
  for (const c of PARITY_CASES) assert.deepEqual(dirHashes(dirs.get(c.model)!), golden.files[c.model]!.modelFiles, c.model);
});

for (const c of PARITY_CASES) {
  test(`${c.model}: logits of a mixed-length padded batch match PyTorch (base and LoRA)`, async () => {
    const m = await loadHfModelFromDir(dirs.get(c.model)!, { tokenizer: false });
    try {
      assert.equal(m.decoder.vocabSize, TINY_VOCAB);
      const tokens = padded(c.rows);
      const base = tf.tidy(() => {
        const ctx = m.decoder.prepare(tokens);
        let x = m.decoder.embed(tokens);
        for (const b of m.decoder.blocks) x = m.decoder.runBlock(b.index, x, ctx);
        return m.decoder.logits(tf.reshape(x, [tokens.batch * tokens.seqLen, m.decoder.hidden]) as tf.Tensor2D);
      });
      const baseDiff = maxDiff((await base.data()) as Float32Array, c.rows, tokens.seqLen, TINY_VOCAB, expected(`${c.model}/base`));
      base.dispose();

      const lm = new LoraCausalLm(m.decoder, { depth: c.depth, lora: c.lora, learningRate: 1e-3, seed: 1 });
      const state = caseAdapter(m.decoder, c);
      lm.setAdapter(state);
      const lora = lm.logits(tokens);
      const loraDiff = maxDiff((await lora.data()) as Float32Array, c.rows, tokens.seqLen, TINY_VOCAB, expected(`${c.model}/lora`));
      lora.dispose();
      report.push(`${c.model}: base ${baseDiff.toExponential(2)}, LoRA ${loraDiff.toExponential(2)}`);
      assert.ok(baseDiff <= TOL, `base logits differ by ${baseDiff}`);
      assert.ok(loraDiff <= TOL, `LoRA logits differ by ${loraDiff}`);

      // The PEFT export is exactly what the reference merged, and imports back to the same state.
      const exp = exportPeft(m.decoder, c.lora, state, { baseModelNameOrPath: 'x' });
      const adapterDir = join(root, 'adapters', c.model);
      mkdirSync(adapterDir, { recursive: true });
      writeFileSync(join(adapterDir, 'adapter_config.json'), JSON.stringify({ ...exp.config, base_model_name_or_path: null }, null, 2));
      writeFileSync(join(adapterDir, 'adapter_model.safetensors'), exp.weights);
      assert.deepEqual(dirHashes(adapterDir), golden.files[c.model]!.adapterFiles);
      const back = await loadPeftAdapter(m.decoder, directoryReader(adapterDir));
      assert.deepEqual(back.layers, c.layers);
      assert.deepEqual([...back.lora.targets].sort(), [...c.lora.targets].sort());
      assert.equal(back.lora.rank, c.lora.rank);
      assert.equal(back.lora.alpha, c.lora.alpha);
      for (const [key, tensors] of state) {
        for (const [name, t] of tensors) {
          const b = back.state.get(key)?.get(name);
          assert.ok(b, `${key}/${name} missing after import`);
          assert.deepEqual(b.shape, t.shape);
          assert.deepEqual(b.data, t.data);
        }
      }
      // PEFT's conventions: key names, [r, in] / [out, r], format metadata, GPT-2 fan_in_fan_out.
      const st = new SafetensorsFile(exp.weights);
      assert.equal(st.metadata.format, 'pt');
      const l0 = c.layers[0]!;
      const first = m.decoder.blocks[l0]!.linears.find((l) => l.target === c.lora.targets[0])!;
      const path = m.decoder.modulePath(l0, first.target);
      assert.deepEqual(st.info(`base_model.model.${path}.lora_A.weight`).shape, [c.lora.rank, first.inDim]);
      assert.deepEqual(st.info(`base_model.model.${path}.lora_B.weight`).shape, [first.outDim, c.lora.rank]);
      assert.equal(exp.config.fan_in_fan_out, m.decoder.family === 'gpt2');
      assert.deepEqual(exp.config.layers_to_transform, c.layers);
      assert.equal(exp.config.layers_pattern, m.decoder.family === 'gpt2' ? 'h' : 'layers');
      lm.dispose();
    } finally {
      m.decoder.dispose();
    }
  });
}
