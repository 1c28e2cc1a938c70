/**
 * Own-data mode: a person's JSONL or CSV file, read and parsed inside the page. The file is never
 * sent anywhere; only its label histogram and sample count go to the coordinator.
 */
import { detectFormat, parseLabeledFile, toDataset } from '../core';
import type { LabeledDataset } from '../core';

export async function readOwnFile(file: File, classNames: readonly string[]): Promise<LabeledDataset> {
  const text = await file.text();
  const format = detectFormat(file.name) ?? (text.trimStart().startsWith('{') ? 'jsonl' : 'csv');
  const { items } = parseLabeledFile(text, format);
  if (items.length === 0) throw new Error(`${file.name} holds no rows`);
  return toDataset(items, classNames);
}
