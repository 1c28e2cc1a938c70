import { SentencePieceTokenizer, assertVocab } from '../tokenizer';
import { loadManifestWeights, parseModelJson, type FetchAsset } from '../weights-manifest';
import { UseLiteEncoder } from './encoder';
import { mapUseLiteWeights } from './weights';

export { UseLiteEncoder } from './encoder';
export { mapUseLiteWeights } from './weights';

/** Files of the USE-lite family, relative to its asset folder. */
export const USE_LITE_MODEL_JSON = 'model.json';
export const USE_LITE_VOCAB = 'vocab.json';

/** Loads USE-lite (weights + SentencePiece vocab) through `fetchAsset` (fs in Node, fetch in a page). */
export async function loadUseLiteModel(fetchAsset: FetchAsset): Promise<UseLiteEncoder> {
  const [modelJson, vocabBytes] = await Promise.all([fetchAsset(USE_LITE_MODEL_JSON), fetchAsset(USE_LITE_VOCAB)]);
  let vocab: unknown;
  try {
    vocab = JSON.parse(new TextDecoder().decode(vocabBytes));
  } catch (e) {
    throw new Error(`${USE_LITE_VOCAB} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  assertVocab(vocab);
  const tokenizer = SentencePieceTokenizer.fromVocab(vocab);
  const weights = mapUseLiteWeights(await loadManifestWeights(parseModelJson(modelJson), fetchAsset));
  if (tokenizer.vocabSize > weights.vocabRows) {
    throw new Error(`vocab has ${tokenizer.vocabSize} pieces but the embedding table only ${weights.vocabRows} rows`);
  }
  return new UseLiteEncoder(weights, (texts, maxLen) => tokenizer.encodeBatch(texts, maxLen));
}
