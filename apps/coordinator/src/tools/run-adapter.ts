/**
 * A causal-LM run's stored adapter as a PEFT LoRA adapter folder, read from the coordinator's
 * database (the run's checkpoint of round K, or its latest) — for `npm run export -- --run ID` and
 * `npm run generate -- --run ID`. The run's record names the checkpoint directory and the LoRA
 * settings; `--model DIR` points elsewhere when the checkpoint has moved.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, decodeAdapter, exportPeft } from '../core';
import type { LoraConfig } from '../core';
import { loadHfModelFromDir, useBackend } from '../core-node';
import { openState } from '../state';

export interface RunAdapterOptions {
  readonly db: string;
  readonly runId: string;
  readonly round?: number;
  /** Overrides the checkpoint directory the run recorded. */
  readonly model?: string;
  readonly out: string;
}

export interface RunAdapterExport {
  readonly out: string;
  readonly round: number;
  readonly modelDir: string;
  readonly layers: readonly number[];
  readonly bytes: number;
  /** The SFT template the run trained with (generate it the same way). */
  readonly template: string | undefined;
}

interface RecordedModel {
  readonly dir: string;
  readonly lora: { readonly rank: number; readonly alpha: number; readonly targets: readonly string[] };
  readonly template?: string | null;
}

export async function exportRunAdapter(o: RunAdapterOptions): Promise<RunAdapterExport> {
  if (!existsSync(o.db)) throw new Error(`no coordinator database at ${o.db} (pass --db PATH, the coordinator's --db)`);
  if (existsSync(o.out) && readdirSync(o.out).length > 0) throw new Error(`${o.out} exists and is not empty`);
  const state = openState(o.db);
  let bytes: Uint8Array;
  let round: number;
  let recorded: RecordedModel | undefined;
  try {
    const run = state.getRun(o.runId);
    if (!run) throw new Error(`run ${o.runId} is not in ${o.db} (runs: ${state.listRuns().map((r) => r.id).join(', ') || 'none'})`);
    recorded = ((run.config as { task?: { model?: RecordedModel } }).task ?? {}).model;
    if (!recorded) throw new Error(`run ${o.runId} is not a causal-LM run (it fine-tunes the built-in encoder): PEFT export needs a Hugging Face decoder`);
    const cp = o.round === undefined ? state.latestCheckpoint(o.runId) : state.getCheckpoint(o.runId, o.round);
    if (!cp) throw new Error(`run ${o.runId} has no checkpoint${o.round === undefined ? '' : ` of round ${o.round}`} (a run keeps its last --keep-checkpoints rounds and its best one)`);
    bytes = cp.bytes;
    round = cp.round;
  } finally {
    state.close();
  }
  const modelDir = o.model ?? recorded.dir;
  await useBackend('cpu');
  const { decoder, nameOrPath } = await loadHfModelFromDir(modelDir, { tokenizer: false });
  const lora: LoraConfig = { rank: recorded.lora.rank, alpha: recorded.lora.alpha, targets: [...recorded.lora.targets] as LoraConfig['targets'], dropout: 0 };
  const exp = exportPeft(decoder, lora, decodeAdapter(bytes, { copy: true }), { baseModelNameOrPath: nameOrPath ?? modelDir });
  decoder.dispose();
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, ADAPTER_CONFIG_FILE), JSON.stringify(exp.config, null, 2) + '\n');
  writeFileSync(join(o.out, ADAPTER_WEIGHTS_FILE), exp.weights);
  return { out: o.out, round, modelDir, layers: exp.layers, bytes: exp.weights.byteLength, template: recorded.template ?? undefined };
}
