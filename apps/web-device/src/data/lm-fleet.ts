/** A causal-LM task's rows on the device: its fleet slot's (downloaded) or the person's own JSONL file (read here, never sent). */
import { categoryHistogram, embedRowsForTopics, loadUseLiteModel, parseCausalLmJsonl, parseLmPartition, topicHistogram } from '../core';
import type { CausalLmRow, TaskInfo } from '../core';

export interface LmDeviceData {
  readonly rows: readonly CausalLmRow[];
  /** Over task.classNames (the task's categories, its topic clusters, or its one "all rows" bin). */
  readonly histogram: number[];
}

export type FetchAsset = (relPath: string) => Promise<ArrayBuffer>;

/**
 * The grouping statistic of the device's rows: counts per category (the task's category field),
 * per topic cluster (the rows embedded here with USE-lite, each counted at its nearest centroid of
 * those the coordinator shipped; only the counts leave the tab), or one bin (resources only).
 */
export async function lmHistogram(rows: readonly CausalLmRow[], task: TaskInfo, fetchAsset: FetchAsset): Promise<number[]> {
  const lm = task.causalLm;
  if (lm?.categoryField !== undefined) return categoryHistogram(rows, task.classNames);
  if (lm?.topicCentroids === undefined) return [rows.length];
  if (lm.topicCentroids.length !== task.classNames.length) throw new Error(`the task has ${task.classNames.length} topic bins but ${lm.topicCentroids.length} centroids`);
  const encoder = await loadUseLiteModel(fetchAsset);
  try {
    return topicHistogram(await embedRowsForTopics(encoder, rows, task.maxTokens), lm.topicCentroids);
  } finally {
    encoder.dispose();
  }
}

export async function fetchLmPartition(dataUrl: string, task: TaskInfo, fetchAsset: FetchAsset): Promise<LmDeviceData> {
  const res = await fetch(dataUrl, { cache: 'no-store' });
  if (!res.ok) throw new Error(`partition request refused: HTTP ${res.status}`);
  const parsed = parseLmPartition(await res.json());
  if (!parsed.ok) throw new Error(parsed.error);
  const p = parsed.value;
  if (p.categories.join('\u0000') !== task.classNames.join('\u0000')) throw new Error('partition categories differ from the task categories');
  const rows = p.rows as CausalLmRow[];
  // A topic task's fleet rows come placed in their topics by the coordinator (its data, its embedding).
  if (task.causalLm?.topicCentroids && rows.every((r) => r.category !== undefined)) return { rows, histogram: categoryHistogram(rows, task.classNames) };
  return { rows, histogram: await lmHistogram(rows, task, fetchAsset) };
}

/** Own-data mode: a JSONL file of {prompt, response} or {text} rows (with the task's category field when it names one). */
export async function readOwnLmFile(file: File, task: TaskInfo, fetchAsset: FetchAsset): Promise<LmDeviceData> {
  const field = task.causalLm?.categoryField;
  const rows = parseCausalLmJsonl(await file.text(), file.name, field === undefined ? {} : { categoryField: field });
  if (field !== undefined) {
    const unknown = [...new Set(rows.map((r) => r.category as string).filter((c) => !task.classNames.includes(c)))];
    if (unknown.length > 0) throw new Error(`${file.name}: "${field}" values outside this task's categories [${task.classNames.join(', ')}]: ${unknown.slice(0, 10).join(', ')}`);
  }
  return { rows, histogram: await lmHistogram(rows, task, fetchAsset) };
}
