/** Fleet mode: the page downloads its own slot's partition (the URL carries the slot's key). */
import { parseFleetPartition } from '../core';
import type { LabeledDataset } from '../core';

export async function fetchFleetPartition(dataUrl: string, classNames: readonly string[]): Promise<LabeledDataset & { index: number }> {
  const res = await fetch(dataUrl, { cache: 'no-store' });
  if (!res.ok) throw new Error(`partition request refused: HTTP ${res.status}`);
  const parsed = parseFleetPartition(await res.json());
  if (!parsed.ok) throw new Error(parsed.error);
  const p = parsed.value;
  if (p.classNames.join('\u0000') !== classNames.join('\u0000')) throw new Error('partition classes differ from the task classes');
  return { index: p.index, texts: p.texts, labels: Int32Array.from(p.labels), classNames: [...p.classNames] };
}
