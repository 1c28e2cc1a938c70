/**
 * SentencePiece (unigram) tokenizer for Universal Sentence Encoder Lite, matching the tokenizer of
 * `@energetic-ai/embeddings` / tfjs-models `universal-sentence-encoder` id for id:
 *
 * 1. NFKC-normalize; empty text encodes to [].
 * 2. Prefix '▁' and turn every ASCII space into '▁' (tabs, newlines etc. are kept as characters).
 * 3. Viterbi over the vocab trie, maximizing the summed piece scores. Ties go to the candidate whose
 *    last piece starts latest. Like the reference, a best score of exactly 0 counts as "no path yet", so
 *    the next candidate for that position replaces it even if it scores lower. With this vocab that
 *    matters: text starting with ":", ":)", ":(" or ":-)" reaches a zero-score '▁:'-piece first (see
 *    below) and ends up spelled out, e.g. ":-)" -> ▁ : - ) rather than ▁:-).
 * 4. A position where no piece starts becomes one unknown token: id 0, score 0, one code point long.
 *    Runs of unknown tokens collapse into a single id 0.
 *
 * The first RESERVED_PIECES vocab entries (unknown, <s>, </s>, extra_token_id_1..3) are never produced
 * from text; "<s>" in the input is spelled out like any other text.
 *
 * A score may be null: the USE Lite vocab.json ships null for seven pieces containing ':' (":", "://",
 * "▁:)", ...). The reference adds it to numbers, where null counts as 0, so null means score 0 here too.
 * (The same file also scores ":30" as +30 and ":00" as 0; they are used as given.)
 */
import { PieceTrie, toCodePoints } from './trie';

/** [piece, score] pairs; the index of a pair is its token id. */
export type Vocab = ReadonlyArray<readonly [string, number | null]>;

export const WORD_SEPARATOR = '\u2581';
export const UNKNOWN_ID = 0;
export const PAD_ID = 0;
export const RESERVED_PIECES = 6;
/** USE Lite only embeds positions below 128. */
export const DEFAULT_MAX_LEN = 128;

export interface EncodedBatch {
  /** Row-major [batch, seqLen], right-padded with PAD_ID. */
  readonly ids: Int32Array;
  /** Tokens per row after truncation; positions >= lengths[b] are padding. */
  readonly lengths: Int32Array;
  readonly batch: number;
  readonly seqLen: number;
}

/** Throws a descriptive error unless `value` is an array of [non-empty string, finite number or null] pairs. */
export function assertVocab(value: unknown): asserts value is Vocab {
  if (!Array.isArray(value)) {
    throw new TypeError(`vocab must be an array of [piece, score] pairs, got ${describe(value)}`);
  }
  if (value.length <= RESERVED_PIECES) {
    throw new RangeError(
      `vocab must hold more than the ${RESERVED_PIECES} reserved pieces, got ${value.length} entries`,
    );
  }
  value.forEach((entry: unknown, i) => {
    if (!Array.isArray(entry) || entry.length !== 2) {
      throw new TypeError(`vocab[${i}] must be a [piece, score] pair, got ${describe(entry)}`);
    }
    const [piece, score] = entry as unknown[];
    if (typeof piece !== 'string' || piece.length === 0) {
      throw new TypeError(`vocab[${i}][0] must be a non-empty string, got ${describe(piece)}`);
    }
    if (score !== null && (typeof score !== 'number' || !Number.isFinite(score))) {
      throw new TypeError(
        `vocab[${i}][1] (score of ${JSON.stringify(piece)}) must be a finite number or null, got ${describe(score)}`,
      );
    }
  });
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (value === null) return 'null';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 40))}`;
  if (typeof value === 'number') return `the number ${value}`;
  return `a value of type ${typeof value}`;
}

/** NFKC, then '▁' in front and in place of every ASCII space; '' stays ''. */
export function normalizeForPieces(text: string): string {
  const normalized = text.normalize('NFKC');
  if (normalized.length === 0) return normalized;
  return WORD_SEPARATOR + normalized.replaceAll(' ', WORD_SEPARATOR);
}

export class SentencePieceTokenizer {
  readonly vocabSize: number;

  private constructor(private readonly trie: PieceTrie, vocabSize: number) {
    this.vocabSize = vocabSize;
  }

  static fromVocab(vocab: Vocab): SentencePieceTokenizer {
    assertVocab(vocab);
    const trie = new PieceTrie();
    for (let id = RESERVED_PIECES; id < vocab.length; id++) {
      const [piece, score] = vocab[id] as readonly [string, number | null];
      trie.insert(toCodePoints(piece), id, score ?? 0);
    }
    return new SentencePieceTokenizer(trie, vocab.length);
  }

  encode(text: string): number[] {
    const symbols = toCodePoints(normalizeForPieces(text));
    const n = symbols.length;
    if (n === 0) return [];

    // best[end]: highest total score of a segmentation of symbols[0..end); lastId/lastStart: its last piece.
    // 0 doubles as "not reached yet" (the reference's convention, kept for identical ids).
    const best = new Float64Array(n + 1);
    const lastId = new Int32Array(n + 1);
    const lastStart = new Int32Array(n + 1);

    let start = 0;
    const relax = (length: number, id: number, score: number): void => {
      const end = start + length;
      const total = score + (best[start] as number);
      const current = best[end] as number;
      if (current === 0 || total >= current) {
        best[end] = total;
        lastId[end] = id;
        lastStart[end] = start;
      }
    };
    // Every position is reachable (an unknown token always advances by one), so best[start] is final here.
    for (start = 0; start < n; start++) {
      if (this.trie.forEachPrefix(symbols, start, relax) === 0) relax(1, UNKNOWN_ID, 0);
    }

    const reversed: number[] = [];
    for (let end = n; end > 0; end = lastStart[end] as number) {
      const id = lastId[end] as number;
      if (id === UNKNOWN_ID && reversed[reversed.length - 1] === UNKNOWN_ID) continue;
      reversed.push(id);
    }
    return reversed.reverse();
  }

  /**
   * Encodes `texts` into a right-padded [batch, seqLen] id matrix. Each row keeps its first `maxLen`
   * tokens; seqLen is the longest kept row (at least 1, so the matrix is never zero-width).
   */
  encodeBatch(texts: readonly string[], maxLen: number = DEFAULT_MAX_LEN): EncodedBatch {
    if (!Number.isInteger(maxLen) || maxLen < 1) {
      throw new RangeError(`maxLen must be a positive integer, got ${maxLen}`);
    }
    const rows = texts.map((text) => {
      const ids = this.encode(text);
      return ids.length > maxLen ? ids.slice(0, maxLen) : ids;
    });
    const batch = rows.length;
    const seqLen = rows.reduce((longest, row) => Math.max(longest, row.length), 1);
    const ids = new Int32Array(batch * seqLen).fill(PAD_ID);
    const lengths = new Int32Array(batch);
    rows.forEach((row, b) => {
      ids.set(row, b * seqLen);
      lengths[b] = row.length;
    });
    return { ids, lengths, batch, seqLen };
  }
}
