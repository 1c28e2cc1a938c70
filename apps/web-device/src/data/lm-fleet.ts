/** A causal-LM task's rows on the device: its fleet slot's (downloaded) or the person's own JSONL file (read here, never sent). */
import { categoryHistogram, parseCausalLmJsonl, parseLmPartition } from '../core';
import type { CausalLmRow, TaskInfo } from '../core';

export interface LmDeviceData {
  readonly rows: readonly CausalLmRow[];
  /** Over task.classNames (the task's categories, or its one "all rows" bin). */
  readonly histogram: number[];
}

export async function fetchLmPartition(dataUrl: string, task: TaskInfo): Promise<LmDeviceData> {
  const res = await fetch(dataUrl, { cache: 'no-store' });
  if (!res.ok) throw new Error(`partition request refused: HTTP ${res.status}`);
  const parsed = parseLmPartition(await res.json());
  if (!parsed.ok) throw new Error(parsed.error);
  const p = parsed.value;
  if (p.categories.join('\u0000') !== task.classNames.join('\u0000')) throw new Error('partition categories differ from the task categories');
  const rows = p.rows as CausalLmRow[];
  const histogram = task.causalLm?.categoryField === undefined ? [rows.length] : categoryHistogram(rows, task.classNames);
  return { rows, histogram };
}

/** Own-data mode: a JSONL file of {prompt, response} or {text} rows (with the task's category field when it names one). */
export async function readOwnLmFile(file: File, task: TaskInfo): Promise<LmDeviceData> {
  const field = task.causalLm?.categoryField;
  const rows = parseCausalLmJsonl(await file.text(), file.name, field === undefined ? {} : { categoryField: field });
  if (field === undefined) return { rows, histogram: [rows.length] };
  const unknown = [...new Set(rows.map((r) => r.category as string).filter((c) => !task.classNames.includes(c)))];
  if (unknown.length > 0) throw new Error(`${file.name}: "${field}" values outside this task's categories [${task.classNames.join(', ')}]: ${unknown.slice(0, 10).join(', ')}`);
  return { rows, histogram: categoryHistogram(rows, task.classNames) };
}
