/**
 * Parsing a user's own labeled file (JSONL or CSV) into labeled texts. Strict: every bad row is reported with its line
 * number in one LabeledFileError, and nothing is silently dropped. Only lines with no characters at all (and blank
 * lines in JSONL) are skipped, since they carry no row.
 */
import type { LabeledText } from './types';

export type LabeledFileFormat = 'jsonl' | 'csv';

export interface LabeledFileIssue {
  /** 1-based line where the bad row starts. */
  readonly line: number;
  readonly message: string;
}

const MAX_ISSUES_IN_MESSAGE = 100;

export class LabeledFileError extends Error {
  constructor(
    readonly format: LabeledFileFormat,
    /** Every problem found, in file order. The message lists the first 100. */
    readonly issues: readonly LabeledFileIssue[],
  ) {
    const shown = issues.slice(0, MAX_ISSUES_IN_MESSAGE).map((i) => `  line ${i.line}: ${i.message}`);
    if (issues.length > MAX_ISSUES_IN_MESSAGE) shown.push(`  … and ${issues.length - MAX_ISSUES_IN_MESSAGE} more`);
    super(`${issues.length} problem(s) in ${format.toUpperCase()} file:\n${shown.join('\n')}`);
    this.name = 'LabeledFileError';
  }
}

export interface ParseLabeledFileOptions {
  /** JSONL key / CSV column holding the text (default "text"; CSV header match is case-insensitive). */
  readonly textField?: string;
  /** JSONL key / CSV column holding the label (default "label"). */
  readonly labelField?: string;
  /** CSV field separator, one character (default ","). */
  readonly delimiter?: string;
}

export interface ParsedLabeledFile {
  readonly items: LabeledText[];
  /** lines[i] = 1-based line where items[i] starts. */
  readonly lines: number[];
}

/** 'jsonl' for .jsonl/.ndjson, 'csv' for .csv (case-insensitive), otherwise null. */
export function detectFormat(filename: string): LabeledFileFormat | null {
  const lower = filename.toLowerCase();
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  if (lower.endsWith('.csv')) return 'csv';
  return null;
}

export function parseLabeledFile(
  text: string,
  format: LabeledFileFormat,
  opts: ParseLabeledFileOptions = {},
): ParsedLabeledFile {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const fields = { text: opts.textField ?? 'text', label: opts.labelField ?? 'label' };
  const parsed = format === 'jsonl' ? parseJsonl(body, fields) : parseCsv(body, fields, opts.delimiter ?? ',');
  if (parsed.issues.length > 0) throw new LabeledFileError(format, parsed.issues);
  return { items: parsed.items, lines: parsed.lines };
}

interface RowsAndIssues extends ParsedLabeledFile {
  readonly issues: LabeledFileIssue[];
}

interface FieldNames {
  readonly text: string;
  readonly label: string;
}

/** CSV row check: the problems of one (text, label) pair, and the trimmed label. */
function checkRow(text: string, label: string): { problems: string[]; label: string } {
  const problems: string[] = [];
  const cleanLabel = label.trim();
  if (text.trim().length === 0) problems.push('empty text');
  if (cleanLabel.length === 0) problems.push('empty label');
  return { problems, label: cleanLabel };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function parseJsonl(body: string, names: FieldNames): RowsAndIssues {
  const items: LabeledText[] = [];
  const lines: number[] = [];
  const issues: LabeledFileIssue[] = [];
  const rawLines = body.split('\n');
  rawLines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim().length === 0) return;
    const lineNo = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      issues.push({ line: lineNo, message: `invalid JSON (${(e as Error).message})` });
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      issues.push({ line: lineNo, message: `expected a JSON object, got ${describe(value)}` });
      return;
    }
    const record = value as Record<string, unknown>;
    const problems: string[] = [];
    const hasText = Object.hasOwn(record, names.text);
    const hasLabel = Object.hasOwn(record, names.label);
    const text = hasText ? record[names.text] : undefined;
    const label = hasLabel ? record[names.label] : undefined;
    // Text and label are checked independently so a row's every problem is named.
    if (!hasText) problems.push(`missing "${names.text}" field`);
    else if (typeof text !== 'string') problems.push(`"${names.text}" must be a string, got ${describe(text)}`);
    else if (text.trim().length === 0) problems.push('empty text');
    let cleanLabel = '';
    if (!hasLabel) problems.push(`missing "${names.label}" field`);
    else if (typeof label === 'number' && Number.isFinite(label)) cleanLabel = String(label);
    else if (typeof label !== 'string') problems.push(`"${names.label}" must be a string or a number, got ${describe(label)}`);
    else if ((cleanLabel = label.trim()).length === 0) problems.push('empty label');
    if (problems.length === 0 && typeof text === 'string') {
      items.push({ text, label: cleanLabel });
      lines.push(lineNo);
      return;
    }
    issues.push({ line: lineNo, message: problems.join('; ') });
  });
  if (items.length === 0 && issues.length === 0) issues.push({ line: 1, message: 'file holds no rows' });
  return { items, lines, issues };
}

interface CsvRecord {
  readonly line: number;
  readonly fields: string[];
  readonly error?: string;
}

/**
 * RFC 4180 records: fields split by the delimiter, records by LF or CRLF; a quoted field may hold delimiters, line
 * breaks and doubled quotes. Completely empty lines between records are skipped. Malformed quoting marks the record
 * with an error instead of guessing.
 */
export function parseCsvRecords(body: string, delimiter = ','): CsvRecord[] {
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new RangeError(`CSV delimiter must be one character other than a quote or line break, got "${delimiter}"`);
  }
  const records: CsvRecord[] = [];
  const n = body.length;
  let i = 0;
  let line = 1;
  const atLineEnd = (p: number): number => {
    // Length of the line break at p (1 for LF, 2 for CRLF), or 0.
    if (body[p] === '\n') return 1;
    if (body[p] === '\r' && body[p + 1] === '\n') return 2;
    return 0;
  };

  while (i < n) {
    const blank = atLineEnd(i);
    if (blank > 0) {
      i += blank;
      line++;
      continue;
    }
    const startLine = line;
    const fields: string[] = [];
    let error: string | undefined;
    let recordDone = false;
    while (!recordDone) {
      let field = '';
      if (body[i] === '"') {
        const quoteLine = line;
        i++;
        let closed = false;
        while (i < n) {
          const ch = body[i] as string;
          if (ch === '"') {
            if (body[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            closed = true;
            break;
          }
          if (ch === '\n') line++;
          field += ch;
          i++;
        }
        if (!closed) {
          error ??= `unterminated quoted field ${fields.length + 1} (quote opened on line ${quoteLine})`;
          fields.push(field);
          break;
        }
        if (i < n && body[i] !== delimiter && atLineEnd(i) === 0) {
          error ??= `unexpected character '${body[i]}' after the closing quote of field ${fields.length + 1}`;
          while (i < n && body[i] !== delimiter && atLineEnd(i) === 0) field += body[i++];
        }
      } else {
        while (i < n && body[i] !== delimiter && atLineEnd(i) === 0) {
          if (body[i] === '"') {
            error ??= `quote inside unquoted field ${fields.length + 1} (quote the whole field and double inner quotes)`;
          }
          field += body[i++];
        }
      }
      fields.push(field);
      if (i >= n) {
        recordDone = true;
      } else if (body[i] === delimiter) {
        i++;
      } else {
        i += atLineEnd(i);
        line++;
        recordDone = true;
      }
    }
    records.push(error === undefined ? { line: startLine, fields } : { line: startLine, fields, error });
  }
  return records;
}

function parseCsv(body: string, names: FieldNames, delimiter: string): RowsAndIssues {
  const items: LabeledText[] = [];
  const lines: number[] = [];
  const issues: LabeledFileIssue[] = [];
  const records = parseCsvRecords(body, delimiter);
  const header = records[0];
  if (!header) return { items, lines, issues: [{ line: 1, message: `empty file: expected a header row with "${names.text}" and "${names.label}" columns` }] };
  if (header.error) return { items, lines, issues: [{ line: header.line, message: `header row: ${header.error}` }] };

  const columns = header.fields.map((f) => f.trim().toLowerCase());
  const headerProblems: string[] = [];
  const findColumn = (name: string): number => {
    const wanted = name.toLowerCase();
    const hits = columns.flatMap((c, idx) => (c === wanted ? [idx] : []));
    if (hits.length === 0) headerProblems.push(`no "${name}" column (found: ${header.fields.join(', ')})`);
    if (hits.length > 1) headerProblems.push(`"${name}" column appears ${hits.length} times`);
    return hits[0] ?? -1;
  };
  const textCol = findColumn(names.text);
  const labelCol = findColumn(names.label);
  if (headerProblems.length > 0) return { items, lines, issues: [{ line: header.line, message: `header row: ${headerProblems.join('; ')}` }] };

  for (const rec of records.slice(1)) {
    if (rec.error) {
      issues.push({ line: rec.line, message: rec.error });
      continue;
    }
    if (rec.fields.length !== columns.length) {
      issues.push({ line: rec.line, message: `expected ${columns.length} columns, found ${rec.fields.length}` });
      continue;
    }
    const text = rec.fields[textCol] as string;
    const checked = checkRow(text, rec.fields[labelCol] as string);
    if (checked.problems.length > 0) {
      issues.push({ line: rec.line, message: checked.problems.join('; ') });
      continue;
    }
    items.push({ text, label: checked.label });
    lines.push(rec.line);
  }
  if (items.length === 0 && issues.length === 0) issues.push({ line: header.line, message: 'header found but no data rows' });
  return { items, lines, issues };
}
