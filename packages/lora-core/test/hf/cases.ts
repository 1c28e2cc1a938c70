/**
 * The parity cases shared by make-golden.ts (which runs the PyTorch reference) and the tests:
 * token rows of mixed lengths per tiny checkpoint, and a seeded LoRA adapter (non-zero A and B)
 * per checkpoint, exported to PEFT's format by our exporter and merged by the reference.
 */
import { createRng } from '../../src/data/random';
import type { AdapterState, NamedArray } from '../../src/lora/adapter-state';
import type { LoraConfig } from '../../src/lora/config';
import type { CausalDecoder, LoraTarget } from '../../src/model/family';
import { TINY_VOCAB } from './tiny';

export interface ParityCase {
  readonly model: string;
  readonly rows: number[][];
  readonly lora: LoraConfig;
  /** Layers the adapter covers. */
  readonly layers: readonly number[];
  /** Fine-tuning depth used for the LoRA forward (layers below it get the adapter as constants). */
  readonly depth: number;
}

function rows(seed: number, lengths: number[]): number[][] {
  const rng = createRng(seed);
  return lengths.map((n) => Array.from({ length: n }, () => rng.int(TINY_VOCAB)));
}

export const PARITY_CASES: readonly ParityCase[] = [
  {
    model: 'gpt2-tied',
    rows: rows(1, [9, 5, 1]),
    lora: { rank: 4, alpha: 8, targets: ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'], dropout: 0 },
    layers: [1, 2],
    depth: 2,
  },
  { model: 'gpt2-untied-f16', rows: rows(2, [7, 3]), lora: { rank: 2, alpha: 4, targets: ['attn.c_attn'], dropout: 0 }, layers: [1], depth: 1 },
  {
    model: 'llama-gqa-bf16-sharded',
    rows: rows(3, [12, 6, 2]),
    lora: {
      rank: 4,
      alpha: 16,
      targets: ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'],
      dropout: 0,
    },
    layers: [1, 2],
    depth: 1,
  },
  {
    model: 'llama-bias-linear-rope-f16',
    rows: rows(5, [10, 3]),
    lora: { rank: 2, alpha: 2, targets: ['self_attn.o_proj', 'mlp.up_proj', 'mlp.down_proj'], dropout: 0 },
    layers: [0, 1],
    depth: 2,
  },
  { model: 'qwen2-bias-headdim', rows: rows(4, [8, 4]), lora: { rank: 3, alpha: 6, targets: ['self_attn.q_proj', 'self_attn.v_proj'], dropout: 0 }, layers: [0, 1], depth: 2 },
];

/** A seeded adapter with non-zero A and B on `c.layers` × `c.lora.targets`. */
export function caseAdapter(decoder: CausalDecoder, c: ParityCase): AdapterState {
  const rng = createRng(1234 + c.model.length);
  const state: AdapterState = new Map();
  for (const layer of c.layers) {
    const m = new Map<string, NamedArray>();
    for (const l of decoder.blocks[layer]!.linears) {
      if (!c.lora.targets.includes(l.target as LoraTarget)) continue;
      const draw = (n: number) => Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * 0.3);
      m.set(`${l.target}.A`, { shape: [l.inDim, c.lora.rank], data: draw(l.inDim * c.lora.rank) });
      m.set(`${l.target}.B`, { shape: [c.lora.rank, l.outDim], data: draw(c.lora.rank * l.outDim) });
    }
    state.set(`${layer}`, m);
  }
  return state;
}
