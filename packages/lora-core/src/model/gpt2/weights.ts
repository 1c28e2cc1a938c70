/**
 * GPT-2 checkpoint keys → tensors. Keys appear with the `transformer.` prefix (GPT2LMHeadModel)
 * or without it (GPT2Model); the causal-mask buffers `attn.bias` / `attn.masked_bias` are ignored.
 * Conv1D weights are stored [in, out] already, which is how we multiply.
 */
import type { Checkpoint } from '../hf/checkpoint';
import type { Gpt2Config } from '../hf/config';

export interface Gpt2LayerWeights {
  ln1: [Float32Array, Float32Array];
  cAttn: [Float32Array, Float32Array];
  attnProj: [Float32Array, Float32Array];
  ln2: [Float32Array, Float32Array];
  cFc: [Float32Array, Float32Array];
  mlpProj: [Float32Array, Float32Array];
}

export interface Gpt2Weights {
  wte: Float32Array;
  wpe: Float32Array;
  layers: Gpt2LayerWeights[];
  lnF: [Float32Array, Float32Array];
  /** [vocab, hidden] when the head is not tied to wte. */
  lmHead?: Float32Array;
}

export function gpt2Prefix(ckpt: Checkpoint): string {
  if (ckpt.has('transformer.wte.weight')) return 'transformer.';
  if (ckpt.has('wte.weight')) return '';
  throw new Error(`no GPT-2 token embedding in the checkpoint (looked for "transformer.wte.weight" and "wte.weight" in ${ckpt.files.join(', ')})`);
}

export function mapGpt2Weights(ckpt: Checkpoint, c: Gpt2Config): Gpt2Weights {
  const p = gpt2Prefix(ckpt);
  const d = c.hidden;
  const pair = (name: string, inDim: number, outDim: number): [Float32Array, Float32Array] => [
    ckpt.take(`${p}${name}.weight`, [inDim, outDim]),
    ckpt.take(`${p}${name}.bias`, [outDim]),
  ];
  const norm = (name: string): [Float32Array, Float32Array] => [ckpt.take(`${p}${name}.weight`, [d]), ckpt.take(`${p}${name}.bias`, [d])];
  const layers: Gpt2LayerWeights[] = [];
  for (let i = 0; i < c.layers; i++) {
    layers.push({
      ln1: norm(`h.${i}.ln_1`),
      cAttn: pair(`h.${i}.attn.c_attn`, d, 3 * d),
      attnProj: pair(`h.${i}.attn.c_proj`, d, d),
      ln2: norm(`h.${i}.ln_2`),
      cFc: pair(`h.${i}.mlp.c_fc`, d, c.inner),
      mlpProj: pair(`h.${i}.mlp.c_proj`, c.inner, d),
    });
  }
  if (ckpt.has(`${p}h.${c.layers}.ln_1.weight`)) throw new Error(`the checkpoint has more layers than n_layer=${c.layers} in config.json`);
  const w: Gpt2Weights = {
    wte: ckpt.take(`${p}wte.weight`, [c.vocabSize, d]),
    wpe: ckpt.take(`${p}wpe.weight`, [c.maxPositions, d]),
    layers,
    lnF: norm('ln_f'),
  };
  if (!c.tieWordEmbeddings) {
    if (!ckpt.has('lm_head.weight')) throw new Error('config.json sets tie_word_embeddings=false but the checkpoint has no "lm_head.weight"');
    w.lmHead = ckpt.take('lm_head.weight', [c.vocabSize, d]);
  }
  return w;
}
