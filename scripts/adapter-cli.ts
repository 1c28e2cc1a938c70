/**
 * `npm run export` and `npm run generate`. With `--run ID [--round K] [--db PATH]` the adapter is a
 * causal-LM run's checkpoint read from the coordinator's database (default .data/tabfleet.sqlite),
 * exported as a PEFT adapter (`export`) or generated with (`generate`; the run's checkpoint
 * directory unless --model is given). Without --run, lora-core's commands run unchanged.
 *
 *   npm run export -- --run ID [--round K] --format peft --out DIR [--db PATH] [--model DIR]
 *   npm run generate -- --run ID [--round K] --prompt "…" [--json]   (the run's SFT template unless --template)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportRunAdapter } from '../apps/coordinator/src/tools/run-adapter';

const BIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'packages', 'lora-core', 'bin');
const RUN_FLAGS = ['run', 'round', 'db'] as const;

/** Takes `--name value` / `--name=value` out of args. */
function take(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === `--${name}`) {
      const v = args[i + 1];
      if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
      args.splice(i, 2);
      return v;
    }
    if (a.startsWith(`--${name}=`)) {
      args.splice(i, 1);
      return a.slice(name.length + 3);
    }
  }
  return undefined;
}

function roundOf(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--round must be an integer >= 0, got "${raw}"`);
  return n;
}

async function runCommand(command: string, args: string[]): Promise<void> {
  process.argv = [process.argv[0]!, join(BIN, `${command}.ts`), ...args];
  await import(join(BIN, `${command}.ts`));
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command !== 'export' && command !== 'generate') throw new Error('usage: adapter-cli.ts export|generate [options]');
  const args = [...rest];
  const runId = take(args, 'run');
  if (runId === undefined) {
    for (const f of RUN_FLAGS) if (args.some((a) => a === `--${f}` || a.startsWith(`--${f}=`))) throw new Error(`--${f} needs --run ID`);
    return runCommand(command, args);
  }
  const round = roundOf(take(args, 'round'));
  const db = take(args, 'db') ?? '.data/tabfleet.sqlite';
  const model = take(args, 'model');
  if (command === 'export') {
    const format = take(args, 'format') ?? 'peft';
    if (format !== 'peft') throw new Error(`--format: only "peft" is supported, got "${format}"`);
    const out = take(args, 'out');
    if (!out) throw new Error('--out DIR is required');
    if (args.length > 0) throw new Error(`unknown arguments with --run: ${args.join(' ')}`);
    const r = await exportRunAdapter({ db, runId, ...(round === undefined ? {} : { round }), ...(model === undefined ? {} : { model }), out });
    console.log(`wrote ${r.out}: run ${runId} round ${r.round} · layers ${r.layers.join(', ')} · ${r.bytes.toLocaleString('en')} bytes · base ${r.modelDir}`);
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'tabfleet-run-adapter-'));
  try {
    const r = await exportRunAdapter({ db, runId, ...(round === undefined ? {} : { round }), ...(model === undefined ? {} : { model }), out: join(tmp, 'adapter') });
    if (!args.includes('--json')) console.log(`run ${runId} round ${r.round} (layers ${r.layers.join(', ')})`);
    // The run's own SFT template unless --template says otherwise.
    const template = r.template !== undefined && !args.some((a) => a === '--template' || a.startsWith('--template=')) ? ['--template', r.template] : [];
    await runCommand('generate', ['--model', r.modelDir, '--adapter', r.out, ...template, ...args]);
  } finally {
    process.once('exit', () => rmSync(tmp, { recursive: true, force: true }));
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
