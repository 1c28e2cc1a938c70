/**
 * Llama-family checkpoint keys → tensors. Keys carry the `model.` prefix (…ForCausalLM) or not
 * (the bare …Model). PyTorch Linear weights are [out, in]; they are transposed here to [in, out].
 * `rotary_emb.inv_freq` buffers in old checkpoints are ignored (recomputed from the config).
 */
import { transpose2d, type Checkpoint } from '../hf/checkpoint';
import type { LlamaConfig } from '../hf/config';

export interface Linear {
  /** [in, out] */
  w: Float32Array;
  b?: Float32Array;
}

export interface LlamaLayerWeights {
  inputNorm: Float32Array;
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  postNorm: Float32Array;
  gate: Linear;
  up: Linear;
  down: Linear;
}

export interface LlamaWeights {
  embed: Float32Array;
  layers: LlamaLayerWeights[];
  norm: Float32Array;
  /** [vocab, hidden] when not tied to the embedding. */
  lmHead?: Float32Array;
}

export function llamaPrefix(ckpt: Checkpoint): string {
  if (ckpt.has('model.embed_tokens.weight')) return 'model.';
  if (ckpt.has('embed_tokens.weight')) return '';
  throw new Error(`no token embedding in the checkpoint (looked for "model.embed_tokens.weight" and "embed_tokens.weight" in ${ckpt.files.join(', ')})`);
}

export function mapLlamaWeights(ckpt: Checkpoint, c: LlamaConfig): LlamaWeights {
  const p = llamaPrefix(ckpt);
  const lin = (name: string, inDim: number, outDim: number, bias: boolean): Linear => {
    const w = transpose2d(ckpt.take(`${p}${name}.weight`, [outDim, inDim]), outDim, inDim);
    if (!bias) {
      if (ckpt.has(`${p}${name}.bias`)) throw new Error(`the checkpoint has "${p}${name}.bias" but config.json implies no bias there`);
      return { w };
    }
    return { w, b: ckpt.take(`${p}${name}.bias`, [outDim]) };
  };
  const d = c.hidden;
  const qDim = c.heads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  const layers: LlamaLayerWeights[] = [];
  for (let i = 0; i < c.layers; i++) {
    const l = `layers.${i}`;
    layers.push({
      inputNorm: ckpt.take(`${p}${l}.input_layernorm.weight`, [d]),
      q: lin(`${l}.self_attn.q_proj`, d, qDim, c.qkvBias),
      k: lin(`${l}.self_attn.k_proj`, d, kvDim, c.qkvBias),
      v: lin(`${l}.self_attn.v_proj`, d, kvDim, c.qkvBias),
      o: lin(`${l}.self_attn.o_proj`, qDim, d, c.oBias),
      postNorm: ckpt.take(`${p}${l}.post_attention_layernorm.weight`, [d]),
      gate: lin(`${l}.mlp.gate_proj`, d, c.intermediate, c.mlpBias),
      up: lin(`${l}.mlp.up_proj`, d, c.intermediate, c.mlpBias),
      down: lin(`${l}.mlp.down_proj`, c.intermediate, d, c.mlpBias),
    });
  }
  if (ckpt.has(`${p}layers.${c.layers}.input_layernorm.weight`)) throw new Error(`the checkpoint has more layers than num_hidden_layers=${c.layers} in config.json`);
  const w: LlamaWeights = { embed: ckpt.take(`${p}embed_tokens.weight`, [c.vocabSize, d]), layers, norm: ckpt.take(`${p}norm.weight`, [d]) };
  if (!c.tieWordEmbeddings) {
    if (!ckpt.has('lm_head.weight')) throw new Error('config.json sets tie_word_embeddings=false (the default for this family) but the checkpoint has no "lm_head.weight"');
    w.lmHead = ckpt.take('lm_head.weight', [c.vocabSize, d]);
  }
  return w;
}
