export {
  SentencePieceTokenizer,
  assertVocab,
  normalizeForPieces,
  DEFAULT_MAX_LEN,
  PAD_ID,
  RESERVED_PIECES,
  UNKNOWN_ID,
  WORD_SEPARATOR,
} from './sentencepiece';
export type { EncodedBatch, Vocab } from './sentencepiece';
