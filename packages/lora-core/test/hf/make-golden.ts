/**
 * Regenerates golden.json: writes the tiny checkpoints and the PEFT export of each case's adapter,
 * runs the PyTorch reference (reference.py, Debian python3-torch) on them, and stores its logits
 * with the sha256 of every file it read, so the tests (which need no torch) can check that they
 * rebuild exactly the same files before comparing.
 *
 *   npx tsx packages/lora-core/test/hf/make-golden.ts      (needs: apt-get install python3-torch)
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadHfModelFromDir, useBackend } from '../../node';
import { exportPeft } from '../../src/lora/peft';
import { PARITY_CASES, caseAdapter } from './cases';
import { writeTinyCheckpoints } from './tiny';

const here = dirname(fileURLToPath(import.meta.url));
const PYTHON = process.env.TORCH_PYTHON ?? '/usr/bin/python3';

export function dirHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort()) out[f] = createHash('sha256').update(readFileSync(join(dir, f))).digest('hex');
  return out;
}

export function f32ToBase64(values: number[]): string {
  return Buffer.from(Float32Array.from(values).buffer).toString('base64');
}

async function main(): Promise<void> {
  await useBackend('cpu');
  const root = mkdtempSync(join(tmpdir(), 'tabfleet-golden-'));
  const dirs = writeTinyCheckpoints(join(root, 'models'));
  const cases: Array<{ name: string; model_dir: string; rows: number[][]; adapter_dir?: string }> = [];
  const meta: Record<string, { modelFiles: Record<string, string>; adapterFiles: Record<string, string> }> = {};
  for (const c of PARITY_CASES) {
    const dir = dirs.get(c.model)!;
    const m = await loadHfModelFromDir(dir, { tokenizer: false });
    const exp = exportPeft(m.decoder, c.lora, caseAdapter(m.decoder, c));
    m.decoder.dispose();
    const adapterDir = join(root, 'adapters', c.model);
    mkdirSync(adapterDir, { recursive: true });
    writeFileSync(join(adapterDir, 'adapter_config.json'), JSON.stringify(exp.config, null, 2));
    writeFileSync(join(adapterDir, 'adapter_model.safetensors'), exp.weights);
    cases.push({ name: `${c.model}/base`, model_dir: dir, rows: c.rows });
    cases.push({ name: `${c.model}/lora`, model_dir: dir, rows: c.rows, adapter_dir: adapterDir });
    meta[c.model] = { modelFiles: dirHashes(dir), adapterFiles: dirHashes(adapterDir) };
  }
  writeFileSync(join(root, 'cases.json'), JSON.stringify(cases));
  execFileSync(PYTHON, [join(here, 'reference.py'), join(root, 'cases.json'), join(root, 'out.json')], { stdio: 'inherit' });
  const out = JSON.parse(readFileSync(join(root, 'out.json'), 'utf8')) as Array<{ name: string; logits: number[][][] }>;
  const torchVersion = execFileSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' }).trim();
  const golden = {
    about: 'Logits of reference.py (PyTorch, float64, one row at a time) on the tiny checkpoints of tiny.ts; regenerate with make-golden.ts',
    torch: torchVersion,
    files: meta,
    logits: Object.fromEntries(out.map((o) => [o.name, o.logits.map((row) => f32ToBase64(row.flat()))])),
  };
  writeFileSync(join(here, 'golden.json'), JSON.stringify(golden, null, 1) + '\n');
  console.log(`wrote ${join(here, 'golden.json')} (${out.length} cases) from ${root}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
