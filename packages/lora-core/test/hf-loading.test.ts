/** Loading HF checkpoint directories: bad directories fail before any training, naming file and tensor. */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { buildModelManifestSync, loadHfModelFromDir, useBackend } from '../node';
import { manifestBytes, manifestFloat32Bytes, modelMemoryShortfall, parseDecoderConfig } from '../src/model/hf';
import { inverseFrequencies } from '../src/model/llama';
import { SafetensorsFile, writeSafetensors } from '../src/model/safetensors';
import { writeTinyCheckpoints } from './hf/tiny';

let dirs: Map<string, string>;
let root: string;

before(async () => {
  await useBackend('wasm');
  root = mkdtempSync(join(tmpdir(), 'tabfleet-hfload-'));
  dirs = writeTinyCheckpoints(join(root, 'ok'));
});

/** A copy of checkpoint `name` to break. */
function copy(name: string, label: string): string {
  const dir = join(root, label);
  cpSync(dirs.get(name)!, dir, { recursive: true });
  return dir;
}

function editConfig(dir: string, f: (c: Record<string, unknown>) => void): void {
  const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  f(c);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(c));
}

/** Rewrites model.safetensors through `f` (on the list of tensors). */
function editTensors(dir: string, f: (ts: Array<{ name: string; shape: number[]; data: Float32Array }>) => void): void {
  const st = new SafetensorsFile(readFileSync(join(dir, 'model.safetensors')));
  const ts = [...st.tensors.values()].map((t) => ({ name: t.name, shape: [...t.shape], data: st.float32(t.name) }));
  f(ts);
  writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(ts));
}

test('every tiny checkpoint loads with its tokenizer, special tokens and family', async () => {
  const want: Record<string, [string, number]> = { 'gpt2-tied': ['gpt2', 3], 'gpt2-untied-f16': ['gpt2', 2], 'llama-gqa-bf16-sharded': ['llama', 3], 'qwen2-bias-headdim': ['qwen2', 2], 'llama-bias-linear-rope-f16': ['llama', 2] };
  for (const [name, dir] of dirs) {
    const m = await loadHfModelFromDir(dir);
    assert.deepEqual([m.decoder.family, m.decoder.blocks.length], want[name], name);
    assert.equal(m.decoder.blocks[0]!.kind, 'decoder-layer');
    assert.ok(m.tokenizer!.special.eos.length > 0);
    assert.equal(m.tokenizer!.decode(m.tokenizer!.encode('hello there')), 'hello there');
    m.decoder.dispose();
  }
});

test('config errors name the file and the field', () => {
  assert.throws(() => parseDecoderConfig({ model_type: 'bert' }), /config\.json: model_type "bert" is not supported \(supported: gpt2, llama, qwen2\)/);
  assert.throws(() => parseDecoderConfig({}), /config\.json has no "model_type"/);
  assert.throws(() => parseDecoderConfig('{nope'), /config\.json is not valid JSON/);
  assert.throws(() => parseDecoderConfig({ model_type: 'gpt2', vocab_size: 10, n_embd: 10, n_layer: 1, n_head: 3 }), /n_embd 10 is not divisible by n_head 3/);
  assert.throws(() => parseDecoderConfig({ model_type: 'gpt2', vocab_size: 10, n_layer: 1, n_head: 2 }), /config\.json: n_embd: /);
  const llama = { model_type: 'llama', vocab_size: 10, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2 };
  assert.throws(() => parseDecoderConfig({ ...llama, rope_scaling: { type: 'yarn', factor: 2 } }), /rope scaling type "yarn" is not supported/);
  assert.throws(() => parseDecoderConfig({ ...llama, rope_scaling: { rope_type: 'llama3', factor: 2 } }), /rope scaling "llama3" needs "low_freq_factor"/);
  assert.throws(() => parseDecoderConfig({ ...llama, num_key_value_heads: 3 }), /not a multiple of num_key_value_heads 3/);
  assert.throws(() => parseDecoderConfig({ ...llama, hidden_act: 'gelu' }), /hidden_act "gelu" is not supported/);
  // Both spellings of the scaling block and of its type are accepted; rope_parameters carries rope_theta in transformers ≥ 5.
  const a = parseDecoderConfig({ ...llama, rope_theta: 5, rope_scaling: { type: 'linear', factor: 2 } });
  const b = parseDecoderConfig({ ...llama, rope_parameters: { rope_type: 'linear', factor: 2, rope_theta: 5 } });
  assert.deepEqual(a, b);
  assert.equal(a.family === 'llama' && a.ropeTheta, 5);
  // Qwen2 always has q/k/v biases and never an o_proj bias.
  const q = parseDecoderConfig({ ...llama, model_type: 'qwen2' });
  assert.ok(q.family === 'llama' && q.qkvBias && !q.oBias);
});

test('Llama-3 rope scaling: long wavelengths divided by the factor, short ones kept, the band between interpolated', () => {
  const scaling = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16 } as const;
  const plain = inverseFrequencies(8, 500000, { type: 'default' });
  const scaled = inverseFrequencies(8, 500000, scaling);
  assert.equal(scaled[0], plain[0]! * ((1 - (16 / ((2 * Math.PI) / plain[0]!) - 1) / 3) / 8 + (16 / ((2 * Math.PI) / plain[0]!) - 1) / 3));
  for (let i = 1; i < 4; i++) assert.equal(scaled[i], plain[i]! / 8);
});

test('missing tensor, wrong shape, truncated shard, missing shard, pickle-only directory: clear errors', async () => {
  const missing = copy('gpt2-tied', 'missing');
  editTensors(missing, (ts) => ts.splice(ts.findIndex((t) => t.name === 'transformer.h.1.mlp.c_fc.bias'), 1));
  await assert.rejects(loadHfModelFromDir(missing), /tensor "transformer\.h\.1\.mlp\.c_fc\.bias" is missing from the checkpoint \(model\.safetensors\)/);

  const shape = copy('qwen2-bias-headdim', 'shape');
  editConfig(shape, (c) => (c.intermediate_size = 41));
  await assert.rejects(loadHfModelFromDir(shape), /model\.safetensors: tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[40, 32\], config\.json implies \[41, 32\]/);

  const more = copy('gpt2-tied', 'more-layers');
  editConfig(more, (c) => (c.n_layer = 2));
  await assert.rejects(loadHfModelFromDir(more), /more layers than n_layer=2/);

  const untied = copy('gpt2-tied', 'untied');
  editConfig(untied, (c) => (c.tie_word_embeddings = false));
  await assert.rejects(loadHfModelFromDir(untied), /tie_word_embeddings=false but the checkpoint has no "lm_head\.weight"/);

  const truncated = copy('llama-gqa-bf16-sharded', 'truncated');
  const shard = join(truncated, 'model-00002-of-00002.safetensors');
  const bytes = readFileSync(shard);
  writeFileSync(shard, bytes.subarray(0, bytes.byteLength - 10));
  await assert.rejects(loadHfModelFromDir(truncated), /model-00002-of-00002\.safetensors: truncated: tensor ".*" ends at data byte/);

  const noShard = copy('llama-gqa-bf16-sharded', 'no-shard');
  rmSync(join(noShard, 'model-00001-of-00002.safetensors'));
  await assert.rejects(loadHfModelFromDir(noShard), /lists shard model-00001-of-00002\.safetensors, which is missing/);

  const pickle = copy('gpt2-tied', 'pickle');
  rmSync(join(pickle, 'model.safetensors'));
  writeFileSync(join(pickle, 'pytorch_model.bin'), 'x');
  await assert.rejects(loadHfModelFromDir(pickle), /only pytorch_model\.bin, a pickle we do not read/);

  const tok = copy('gpt2-tied', 'small-vocab');
  editConfig(tok, (c) => (c.vocab_size = 100));
  await assert.rejects(loadHfModelFromDir(tok), /tokenizer\.json produces ids up to 272 but config\.json has vocab_size 100/);

  const noTok = copy('gpt2-tied', 'no-tokenizer');
  rmSync(join(noTok, 'tokenizer.json'));
  await assert.rejects(loadHfModelFromDir(noTok), /tokenizer\.json is missing/);
  const m = await loadHfModelFromDir(noTok, { tokenizer: false });
  m.decoder.dispose();
});

test('the manifest gives each weight file its float32 size: the memory check before a download counts F16 / BF16 twice', () => {
  for (const [name, dtypeBytes] of [['gpt2-tied', 4], ['gpt2-untied-f16', 2], ['llama-gqa-bf16-sharded', 2]] as const) {
    const dir = dirs.get(name)!;
    const m = buildModelManifestSync(dir);
    for (const f of m.files) {
      if (!f.path.endsWith('.safetensors')) {
        assert.equal(f.float32Bytes, undefined, `${name}/${f.path}`);
        continue;
      }
      const st = new SafetensorsFile(readFileSync(join(dir, f.path)));
      const values = [...st.tensors.values()].reduce((n, t) => n + t.shape.reduce((a, d) => a * d, 1), 0);
      assert.equal(f.float32Bytes, values * 4, `${name}/${f.path}`);
      // The file holds the values at their stored width plus a header.
      assert.ok(f.bytes > values * dtypeBytes && f.bytes < values * dtypeBytes + 64 * 1024, `${name}/${f.path}: ${f.bytes} bytes for ${values} values`);
    }
    const disk = manifestBytes(m);
    const memory = manifestFloat32Bytes(m);
    if (dtypeBytes === 4) assert.ok(memory <= disk, name);
    else {
      // Room for the download, not for the converted weights: refused, naming both sizes.
      assert.ok(memory > 1.8 * (disk - 2 * 2 ** 16), `${name}: ${memory} vs ${disk}`);
      const between = Math.floor((disk + memory) / 2);
      assert.match(modelMemoryShortfall(m, between) ?? '', /takes \d+ MiB as float32 \(\d+ MiB to download\), this page may use about \d+ MiB/);
    }
    assert.equal(modelMemoryShortfall(m, memory), undefined);
    assert.ok(modelMemoryShortfall(m, memory - 1) !== undefined);
  }
});
