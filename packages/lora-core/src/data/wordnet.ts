/**
 * Parser for WordNet `data.{noun,verb,adj,adv}` files (wndb(5WN) format):
 *   synset_offset lex_filenum ss_type w_cnt word lex_id [word lex_id...] p_cnt [ptr...] [frames...] | gloss
 * Each synset becomes one example: its gloss, labeled with the name of its lexicographer file.
 */
import type { LabeledText } from './types';

export class WordNetParseError extends Error {
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super(`WordNet data line ${line}: ${detail}`);
    this.name = 'WordNetParseError';
  }
}

const SYNSET_HEAD = /^(\d{8}) (\d{2}) ([nvasr]) /;
const GLOSS_SEPARATOR = ' | ';

/**
 * Parse one data.* file. Lines starting with two spaces (the license header) and empty lines are skipped;
 * every other line must be a synset with a gloss and a lex_filenum that names an entry of `lexnames`,
 * otherwise a WordNetParseError names the line.
 */
export function parseWordNetData(fileText: string, lexnames: readonly string[]): LabeledText[] {
  const out: LabeledText[] = [];
  const lines = fileText.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] as string;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length === 0 || line.startsWith('  ')) continue;
    const head = SYNSET_HEAD.exec(line);
    if (!head) throw new WordNetParseError(i + 1, 'expected "<8-digit offset> <2-digit lex_filenum> <ss_type> ..."');
    const lexFileNum = Number(head[2]);
    const label = lexnames[lexFileNum];
    if (label === undefined) {
      throw new WordNetParseError(i + 1, `lex_filenum ${head[2]} has no entry in lexnames (${lexnames.length} names)`);
    }
    const sep = line.indexOf(GLOSS_SEPARATOR);
    if (sep < 0) throw new WordNetParseError(i + 1, `synset ${head[1]} has no gloss (no "${GLOSS_SEPARATOR}")`);
    const text = line.slice(sep + GLOSS_SEPARATOR.length).trim();
    if (text.length === 0) throw new WordNetParseError(i + 1, `synset ${head[1]} has an empty gloss`);
    out.push({ text, label });
  }
  return out;
}

/** Parse a lexnames file ("NN name syntactic_category" per line) into names indexed by file number. */
export function parseLexnames(fileText: string): string[] {
  const names: string[] = [];
  const lines = fileText.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line.length === 0) continue;
    const m = /^(\d+)\s+(\S+)/.exec(line);
    if (!m) throw new Error(`lexnames line ${i + 1}: expected "<number> <name> <category>", got "${line}"`);
    const num = Number(m[1]);
    if (names[num] !== undefined) throw new Error(`lexnames line ${i + 1}: file number ${num} appears twice`);
    names[num] = m[2] as string;
  }
  for (let n = 0; n < names.length; n++) {
    if (names[n] === undefined) throw new Error(`lexnames: file number ${n} is missing`);
  }
  return names;
}
