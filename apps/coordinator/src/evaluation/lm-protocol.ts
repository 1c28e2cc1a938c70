/** Messages between the coordinator and its causal-LM evaluation worker (structured clone; adapters as codec bytes). */
import type { CausalLmRow, LoraConfig, SftTemplate } from '../core';

export interface LmInitRequest {
  readonly type: 'init';
  /** Absolute path of the checkpoint directory. */
  readonly modelDir: string;
  /** The task's LoRA settings; targets absent = PEFT's defaults for the family. */
  readonly lora: { readonly rank: number; readonly alpha: number; readonly targets?: readonly string[] };
  readonly seed: number;
  readonly maxTokens: number;
  /** Rows per evaluation batch. */
  readonly batchSize: number;
  /** The devices' training batch size (for the planner's memory per depth). */
  readonly trainBatchSize: number;
  readonly template: SftTemplate;
  /** Rows scored per evaluation; empty when the task has none. */
  readonly rows: readonly CausalLmRow[];
  /** A PEFT adapter directory the run starts from (--init-adapter). */
  readonly initAdapterDir?: string;
  /** Topic clusters to find in `rows` (seeded k-means over USE-lite embeddings). */
  readonly topics?: number;
  /** With `topics`: the training rows, each placed in its nearest topic (fleet partitions and their histograms). */
  readonly trainRows?: readonly CausalLmRow[];
}

export interface LmEvaluateRequest {
  readonly type: 'evaluate';
  readonly id: number;
  readonly adapter: Uint8Array;
}

export interface LmExportRequest {
  readonly type: 'export';
  readonly id: number;
  readonly adapter: Uint8Array;
  readonly baseModelNameOrPath: string;
}

export type LmWorkerRequest = LmInitRequest | LmEvaluateRequest | LmExportRequest;

export type LmWorkerReply =
  | {
      readonly type: 'ready';
      readonly numBlocks: number;
      readonly lora: LoraConfig;
      readonly initialAdapter: Uint8Array;
      readonly memoryBytesByDepth: number[];
      /** Loss tokens of the evaluation rows, and rows dropped because truncation left them none. */
      readonly evalTokens: number;
      readonly dropped: number;
      /** --init-adapter: the layers the PEFT adapter held. */
      readonly importedLayers?: number[];
      /** `topics` centroids, and how many evaluation rows fell in each. */
      readonly topicCentroids?: number[][];
      readonly topicSizes?: number[];
      /** The topic of each training row (index into topicCentroids). */
      readonly trainTopics?: number[];
      readonly topicMs?: number;
    }
  | { readonly type: 'result'; readonly id: number; readonly loss: number; readonly perplexity: number; readonly accuracy: number; readonly tokens: number; readonly rows: number; readonly ms: number }
  | { readonly type: 'exported'; readonly id: number; readonly configJson: string; readonly weights: Uint8Array; readonly layers: number[] }
  | { readonly type: 'error'; readonly id: number | null; readonly message: string };
