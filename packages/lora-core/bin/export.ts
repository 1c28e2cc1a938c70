/**
 * Writes a LoRA adapter of a decoder in PEFT's format (adapter_config.json +
 * adapter_model.safetensors), loadable with `PeftModel.from_pretrained(base, DIR)`.
 *
 *   npm run export -- --model DIR --adapter FILE.tfad --alpha 16 --format peft --out OUT_DIR
 *
 * FILE is an adapter in tabfleet's wire format (what devices upload and the coordinator keeps per
 * round; encodeAdapter). Rank and targets are read from its tensors; alpha is not stored there.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadHfModelFromDir, useBackend } from '../node';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, decodeAdapter, exportPeft, type LoraTarget } from '../src';
import { num } from './format-table';

const HELP = `usage: npm run export -- --model DIR --adapter FILE --alpha A --format peft --out DIR
  --model DIR      the base checkpoint directory the adapter was trained on
  --adapter FILE   adapter in tabfleet's wire format (.tfad)
  --alpha A        LoRA alpha of the run (scale = alpha / rank)
  --dropout P      LoRA dropout to record (default 0)
  --format peft    the only format so far
  --out DIR        output directory (created; must be empty if it exists)`;

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    adapter: { type: 'string' },
    alpha: { type: 'string' },
    dropout: { type: 'string', default: '0' },
    format: { type: 'string', default: 'peft' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

async function main(): Promise<void> {
  if (a.help) return console.log(HELP);
  if (!a.model || !a.adapter || !a.out || a.alpha === undefined) throw new Error(`--model, --adapter, --alpha and --out are required\n\n${HELP}`);
  if (a.format !== 'peft') throw new Error(`--format: only "peft" is supported, got "${a.format}"`);
  if (existsSync(a.out) && readdirSync(a.out).length > 0) throw new Error(`${a.out} exists and is not empty`);
  const alpha = num('alpha', a.alpha, false);
  const dropout = num('dropout', a.dropout, false);
  await useBackend('cpu');
  const bytes = readFileSync(a.adapter);
  const state = decodeAdapter(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, { copy: true });
  const targets = new Set<LoraTarget>();
  let rank: number | undefined;
  for (const [key, tensors] of state) {
    for (const [name, t] of tensors) {
      if (!name.endsWith('.A')) continue;
      targets.add(name.slice(0, -2) as LoraTarget);
      if (rank !== undefined && t.shape[1] !== rank) throw new Error(`${a.adapter}: block ${key} has rank ${t.shape[1]}, others ${rank}`);
      rank = t.shape[1];
    }
  }
  if (rank === undefined) throw new Error(`${a.adapter} holds no LoRA matrices`);
  const { decoder, nameOrPath } = await loadHfModelFromDir(a.model, { tokenizer: false });
  const exp = exportPeft(decoder, { rank, alpha, targets: [...targets], dropout }, state, { baseModelNameOrPath: nameOrPath ?? a.model });
  decoder.dispose();
  mkdirSync(a.out, { recursive: true });
  writeFileSync(join(a.out, ADAPTER_CONFIG_FILE), JSON.stringify(exp.config, null, 2) + '\n');
  writeFileSync(join(a.out, ADAPTER_WEIGHTS_FILE), exp.weights);
  console.log(`wrote ${a.out}: layers ${exp.layers.join(', ')} · targets ${exp.config.target_modules.join(', ')} · r ${rank} · alpha ${alpha} · ${exp.weights.byteLength.toLocaleString('en')} bytes`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
