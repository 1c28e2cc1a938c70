/** Messages between the coordinator and its evaluation worker (structured clone; adapters as codec bytes). */
import type { LoraConfig } from '../core';

export interface InitRequest {
  readonly type: 'init';
  readonly numClasses: number;
  readonly lora: LoraConfig;
  readonly seed: number;
  readonly maxTokens: number;
  readonly batchSize: number;
  /** Rows scored per evaluation; empty when the task has no evaluation set. */
  readonly texts: readonly string[];
  readonly labels: Int32Array;
}

export interface EvaluateRequest {
  readonly type: 'evaluate';
  readonly id: number;
  /** encodeAdapter output. */
  readonly adapter: Uint8Array;
}

export type WorkerRequest = InitRequest | EvaluateRequest;

export type WorkerReply =
  | { readonly type: 'ready'; readonly numBlocks: number; readonly featureDim: number; readonly initialAdapter: Uint8Array }
  | { readonly type: 'result'; readonly id: number; readonly accuracy: number; readonly loss: number; readonly rows: number; readonly ms: number }
  | { readonly type: 'error'; readonly id: number | null; readonly message: string };
