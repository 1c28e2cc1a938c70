/**
 * The user-facing decoder commands end to end on a tiny checkpoint: finetune:lm writes a PEFT
 * adapter, generate --json reads it back and greedy-decodes with it, export turns a wire-format
 * adapter into the same PEFT files, bench:core --model prints its table.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { directoryReader, loadHfModelFromDir, useBackend } from '../node';
import { loadPeftAdapter } from '../src/lora/peft';
import { encodeAdapter } from '../src/protocol';
import { SafetensorsFile } from '../src/model/safetensors';
import { writeTinyCheckpoints } from './hf/tiny';

const run = promisify(execFile);
const bin = (name: string) => join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', `${name}.ts`);
const tsx = (name: string, args: string[]) => run(process.execPath, ['--import', 'tsx', bin(name), ...args], { maxBuffer: 1 << 24, timeout: 120_000 });

let root: string;
let model: string;

before(async () => {
  await useBackend('cpu');
  root = mkdtempSync(join(tmpdir(), 'tabfleet-llm-cli-'));
  model = writeTinyCheckpoints(join(root, 'models'), ['gpt2-tied']).get('gpt2-tied')!;
  const facts = [
    ['capital of france', 'paris'],
    ['capital of italy', 'rome'],
    ['colour of grass', 'green'],
    ['opposite of up', 'down'],
  ];
  writeFileSync(join(root, 'train.jsonl'), Array.from({ length: 24 }, (_, i) => JSON.stringify({ prompt: facts[i % 4]![0], response: facts[i % 4]![1] })).join('\n'));
});

test('finetune:lm → PEFT adapter → generate --adapter --json → export gives the same PEFT weights', async () => {
  const adapter = join(root, 'adapter');
  const ft = await tsx('finetune-lm', ['--model', model, '--data', join(root, 'train.jsonl'), '--out', adapter, '--depth', '2', '--targets', 'all', '--steps', '40', '--batch', '8', '--lr', '1e-2', '--eval-every', '20']);
  const evals = [...ft.stdout.matchAll(/eval loss ([\d.]+)/g)].map((m) => Number(m[1]));
  assert.equal(evals.length, 3, ft.stdout);
  assert.ok(evals[2]! < evals[0]! - 1, `eval loss should fall: ${evals.join(' → ')}`);
  const config = JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(config.base_model_name_or_path, 'tabfleet/tiny-gpt2');
  assert.deepEqual(config.layers_to_transform, [1, 2]);

  const gen = await tsx('generate', ['--model', model, '--adapter', adapter, '--template', 'sft', '--prompt', 'capital of france', '--max-new-tokens', '8', '--json']);
  const out = JSON.parse(gen.stdout) as { text: string; tokens: Array<{ id: number; logProb: number }>; sumLogProb: number };
  assert.ok(out.tokens.length > 0 && out.tokens.every((t) => t.logProb <= 0));
  assert.ok(Math.abs(out.sumLogProb - out.tokens.reduce((s, t) => s + t.logProb, 0)) < 1e-9);
  const base = JSON.parse((await tsx('generate', ['--model', model, '--template', 'sft', '--prompt', 'capital of france', '--max-new-tokens', '8', '--json'])).stdout) as { tokens: unknown[] };
  assert.notDeepEqual(base.tokens, out.tokens);

  // The same adapter in tabfleet's wire format exports to byte-identical PEFT weights.
  const { decoder } = await loadHfModelFromDir(model, { tokenizer: false });
  const peft = await loadPeftAdapter(decoder, directoryReader(adapter));
  decoder.dispose();
  writeFileSync(join(root, 'a.tfad'), new Uint8Array(encodeAdapter(peft.state)));
  const exported = join(root, 'exported');
  await tsx('export', ['--model', model, '--adapter', join(root, 'a.tfad'), '--alpha', String(config.lora_alpha), '--format', 'peft', '--out', exported]);
  assert.deepEqual(readFileSync(join(exported, 'adapter_model.safetensors')), readFileSync(join(adapter, 'adapter_model.safetensors')));
  assert.equal(new SafetensorsFile(readFileSync(join(exported, 'adapter_model.safetensors'))).metadata.format, 'pt');
  await assert.rejects(tsx('export', ['--model', model, '--adapter', join(root, 'a.tfad'), '--alpha', '16', '--format', 'peft', '--out', exported]), /exists and is not empty/);
});

test('finetune:lm --init-adapter at a smaller depth keeps the adapter\'s lower layers', async () => {
  const first = join(root, 'init-a');
  const second = join(root, 'init-b');
  await tsx('finetune-lm', ['--model', model, '--data', join(root, 'train.jsonl'), '--out', first, '--depth', '3', '--steps', '3', '--eval-every', '3']);
  const r = await tsx('finetune-lm', ['--model', model, '--data', join(root, 'train.jsonl'), '--out', second, '--depth', '1', '--init-adapter', first, '--steps', '3', '--eval-every', '3']);
  assert.match(r.stdout, /starting from .*layers 0, 1, 2/);
  const cfg = (d: string) => JSON.parse(readFileSync(join(d, 'adapter_config.json'), 'utf8')) as { layers_to_transform: number[] };
  assert.deepEqual(cfg(second).layers_to_transform, [0, 1, 2]);
  const a = new SafetensorsFile(readFileSync(join(first, 'adapter_model.safetensors')));
  const b = new SafetensorsFile(readFileSync(join(second, 'adapter_model.safetensors')));
  const key = 'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight';
  assert.deepEqual(b.float32(key), a.float32(key), 'layer 0 (below depth 1) is carried over unchanged');
  const top = 'base_model.model.transformer.h.2.attn.c_attn.lora_B.weight';
  assert.notDeepEqual(b.float32(top), a.float32(top), 'layer 2 (trained) moved');
});

test('bench:core --model prints a row per depth', async () => {
  const r = await tsx('bench-core', ['--model', model, '--steps', '1', '--warmup', '0', '--seq', '16']);
  for (const d of [1, 2, 3]) assert.match(r.stdout, new RegExp(`^${d}\\s+\\d+`, 'm'));
});

test('bad input to the commands: a clear message and a non-zero exit', async () => {
  await assert.rejects(tsx('generate', ['--model', join(root, 'nope'), '--prompt', 'x']), /config\.json is missing/);
  await assert.rejects(tsx('generate', ['--model', model]), /--model and --prompt are required/);
  await assert.rejects(tsx('bench-core', ['--shape', 'gpt5']), /--shape: one of gpt2-small, smollm2-135m/);
});
