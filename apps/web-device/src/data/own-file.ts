/**
 * Own-data mode: a person's JSONL or CSV file, read and parsed inside the page. The file is never
 * sent anywhere; only its label histogram and sample count go to the coordinator. Rows are checked
 * against the task's label set: the caller decides (with the person) what to do with rows whose
 * label the task does not know; nothing is dropped here.
 */
import { checkLabels, detectFormat, parseLabeledFile } from '../core';
import type { LabelCheck } from '../core';

export interface OwnFile {
  readonly name: string;
  readonly check: LabelCheck;
}

export async function readOwnFile(file: File, classNames: readonly string[]): Promise<OwnFile> {
  const text = await file.text();
  const format = detectFormat(file.name) ?? (text.trimStart().startsWith('{') ? 'jsonl' : 'csv');
  const { items, lines } = parseLabeledFile(text, format);
  if (items.length === 0) throw new Error(`${file.name} holds no rows`);
  return { name: file.name, check: checkLabels(items, classNames, lines) };
}
