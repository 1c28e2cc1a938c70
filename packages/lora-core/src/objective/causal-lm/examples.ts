/**
 * Causal-LM training rows and how they become token ids with a loss mask.
 *
 * - `{prompt, response}` (instruction SFT): the template's prompt text (with `{prompt}` replaced)
 *   is tokenized with the tokenizer's special tokens (e.g. Llama's BOS), the response without, then
 *   EOS is appended when `appendEos`. Loss is on the response tokens (and EOS) only. Prompt and
 *   response are tokenized separately so the boundary is exact in token space.
 * - `{text}` (plain LM): the text with special tokens, then EOS; loss on every token but the first.
 *
 * Sequences longer than `maxTokens` keep their first `maxTokens` tokens; a row whose loss tokens
 * are all cut off this way is reported (`encodeRows` counts it) and skipped.
 */
import { z } from 'zod';

export interface SftTemplate {
  /** Text before the response; every `{prompt}` is replaced by the row's prompt. */
  readonly prompt: string;
  /** Append the tokenizer's EOS after the response (and after plain text) so the model learns to stop. */
  readonly appendEos: boolean;
}

/** Alpaca-style default; any template works as long as it contains `{prompt}`. */
export const DEFAULT_SFT_TEMPLATE: SftTemplate = { prompt: '### Instruction:\n{prompt}\n\n### Response:\n', appendEos: true };

/** `category` (from the task's categorical field, when it names one) feeds near-IID grouping. */
export type CausalLmRow = ({ readonly prompt: string; readonly response: string } | { readonly text: string }) & { readonly category?: string };

export const causalLmRowSchema = z.union([
  z.looseObject({ prompt: z.string(), response: z.string().min(1) }),
  z.looseObject({ text: z.string().min(1) }),
]);

/** What the objective needs from a tokenizer (HfTokenizer satisfies it). */
export interface LmTokenizer {
  encode(text: string, addSpecialTokens?: boolean): number[];
  readonly special: { readonly eos: readonly number[]; readonly pad?: number };
}

/** One tokenized row: ids and, per position, whether that token is predicted with loss. */
export interface EncodedRow {
  readonly ids: Int32Array;
  readonly loss: Uint8Array;
}

export function validateTemplate(t: SftTemplate): SftTemplate {
  if (!t.prompt.includes('{prompt}')) throw new Error('the SFT template must contain "{prompt}"');
  return t;
}

export function encodeRow(tok: LmTokenizer, row: CausalLmRow, maxTokens: number, template: SftTemplate = DEFAULT_SFT_TEMPLATE): EncodedRow {
  if (!Number.isInteger(maxTokens) || maxTokens < 2) throw new RangeError(`maxTokens must be an integer ≥ 2, got ${maxTokens}`);
  const eos = template.appendEos ? tok.special.eos[0] : undefined;
  if (template.appendEos && eos === undefined) throw new Error('the tokenizer has no EOS token; set appendEos: false in the template');
  let ids: number[];
  let lossFrom: number;
  if ('text' in row) {
    ids = tok.encode(row.text, true);
    lossFrom = 1;
  } else {
    const prompt = tok.encode(template.prompt.split('{prompt}').join(row.prompt), true);
    ids = [...prompt, ...tok.encode(row.response, false)];
    lossFrom = Math.max(1, prompt.length);
  }
  if (eos !== undefined) ids.push(eos);
  if (ids.length > maxTokens) ids = ids.slice(0, maxTokens);
  const loss = new Uint8Array(ids.length);
  for (let i = lossFrom; i < ids.length; i++) loss[i] = 1;
  return { ids: Int32Array.from(ids), loss };
}

/** Encodes every row; rows left with no loss token after truncation are dropped and counted. */
export function encodeRows(tok: LmTokenizer, rows: readonly CausalLmRow[], maxTokens: number, template?: SftTemplate): { rows: EncodedRow[]; dropped: number } {
  if (template) validateTemplate(template);
  const out: EncodedRow[] = [];
  let dropped = 0;
  for (const r of rows) {
    const e = encodeRow(tok, r, maxTokens, template);
    if (e.loss.some((v) => v === 1)) out.push(e);
    else dropped++;
  }
  return { rows: out, dropped };
}

export interface ParseJsonlOptions {
  /** A categorical field every row must carry (string or number); kept as the row's `category`. */
  readonly categoryField?: string;
}

/** Bad rows named in one error; more are counted. */
const MAX_NAMED_BAD_ROWS = 10;

/**
 * Parses JSONL text into rows. Any bad row refuses the whole file (nothing is silently dropped):
 * the error names the line of every bad row (the first ten, and how many in all).
 */
export function parseCausalLmJsonl(text: string, file = 'data.jsonl', o: ParseJsonlOptions = {}): CausalLmRow[] {
  const rows: CausalLmRow[] = [];
  const bad: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const at = `${file}:${i + 1}`;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      bad.push(`${at}: not valid JSON (${(e as Error).message})`);
      return;
    }
    const r = causalLmRowSchema.safeParse(v);
    if (!r.success) {
      bad.push(`${at}: a row needs {"prompt", "response"} or {"text"} strings`);
      return;
    }
    const d = r.data as Record<string, unknown>;
    const base: CausalLmRow = 'text' in d && typeof d.text === 'string' && !('prompt' in d) ? { text: d.text } : { prompt: d.prompt as string, response: d.response as string };
    if (o.categoryField !== undefined) {
      const c = d[o.categoryField];
      if (typeof c !== 'string' && typeof c !== 'number') {
        bad.push(`${at}: field "${o.categoryField}" must be a string or number`);
        return;
      }
      rows.push({ ...base, category: String(c) });
    } else rows.push(base);
  });
  if (bad.length === 1) throw new Error(bad[0]);
  if (bad.length > 1) {
    const more = bad.length > MAX_NAMED_BAD_ROWS ? `; and ${bad.length - MAX_NAMED_BAD_ROWS} more` : '';
    throw new Error(`${file}: ${bad.length} bad rows (the file is refused; fix them): ${bad.slice(0, MAX_NAMED_BAD_ROWS).join('; ')}${more}`);
  }
  if (rows.length === 0) throw new Error(`${file}: no rows`);
  return rows;
}

/** Counts of each category over `rows`, in the order of `categories` (rows outside it are refused). */
export function categoryHistogram(rows: readonly CausalLmRow[], categories: readonly string[]): number[] {
  const index = new Map(categories.map((c, i) => [c, i]));
  const h = new Array<number>(categories.length).fill(0);
  for (const r of rows) {
    if (r.category === undefined) throw new Error('a row has no category (parse with categoryField)');
    const i = index.get(r.category);
    if (i === undefined) throw new Error(`category "${r.category}" is not one of the task's ${categories.length} categories`);
    h[i]!++;
  }
  return h;
}
