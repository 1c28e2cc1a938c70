/**
 * tokenizer.json (+ tokenizer_config.json) through @huggingface/tokenizers (zero dependencies,
 * browser and Node): the exact pre-tokenizer, model, post-processor and decoder of the checkpoint.
 */
import { Tokenizer } from '@huggingface/tokenizers';

export interface SpecialTokens {
  readonly bos?: number;
  /** Ids that end generation (generation_config.json's eos_token_id may list several). */
  readonly eos: readonly number[];
  readonly pad?: number;
}

export class HfTokenizer {
  private readonly tok: Tokenizer;
  readonly special: SpecialTokens;
  /** Largest token id the tokenizer can produce + 1. */
  readonly idBound: number;

  constructor(tokenizerJson: unknown, tokenizerConfig: unknown = {}, generationConfig: unknown = {}, file = 'tokenizer.json') {
    if (typeof tokenizerJson !== 'object' || tokenizerJson === null || !('model' in tokenizerJson)) throw new Error(`${file} is not a tokenizers JSON file (no "model")`);
    try {
      this.tok = new Tokenizer(tokenizerJson, (tokenizerConfig ?? {}) as object);
    } catch (e) {
      throw new Error(`${file} could not be loaded: ${(e as Error).message}`, { cause: e });
    }
    const vocab = this.tok.get_vocab(true);
    let max = -1;
    for (const id of vocab.values()) if (id > max) max = id;
    this.idBound = max + 1;
    const cfg = (tokenizerConfig ?? {}) as Record<string, unknown>;
    const gen = (generationConfig ?? {}) as Record<string, unknown>;
    const idOf = (v: unknown): number | undefined => {
      const content = typeof v === 'string' ? v : typeof v === 'object' && v !== null && 'content' in v ? (v as { content: unknown }).content : undefined;
      return typeof content === 'string' ? this.tok.token_to_id(content) : undefined;
    };
    const ids = (v: unknown): number[] => (typeof v === 'number' ? [v] : Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : []);
    const eos = new Set<number>(ids(gen.eos_token_id));
    const eosFromConfig = idOf(cfg.eos_token);
    if (eosFromConfig !== undefined) eos.add(eosFromConfig);
    if (eos.size === 0) {
      for (const name of ['<|endoftext|>', '</s>', '<|end_of_text|>', '<|im_end|>']) {
        const id = this.tok.token_to_id(name);
        if (id !== undefined) {
          eos.add(id);
          break;
        }
      }
    }
    const bos = typeof gen.bos_token_id === 'number' ? gen.bos_token_id : idOf(cfg.bos_token);
    const pad = typeof gen.pad_token_id === 'number' ? gen.pad_token_id : idOf(cfg.pad_token);
    this.special = { eos: [...eos], ...(bos === undefined ? {} : { bos }), ...(pad === undefined ? {} : { pad }) };
  }

  /** Token ids of `text`; `addSpecialTokens` applies the post-processor (e.g. Llama's BOS). */
  encode(text: string, addSpecialTokens = false): number[] {
    return this.tok.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: readonly number[], skipSpecialTokens = false): string {
    if (ids.length === 0) return '';
    return this.tok.decode([...ids], { skip_special_tokens: skipSpecialTokens });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }
}
