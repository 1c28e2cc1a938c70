/** Messages between the compare CLI and its training workers (structured-cloned: Maps and typed arrays survive). */
import type { AdapterState, EvalResult } from '../../src';
import type { LocalTrainingJob, LocalTrainingResult, PrefixCacheStats } from '../../src/sim';

export type WorkerRequest =
  | { readonly id: number; readonly kind: 'train'; readonly job: LocalTrainingJob }
  | { readonly id: number; readonly kind: 'evaluate'; readonly adapter: AdapterState; readonly start: number; readonly end: number }
  | { readonly id: number; readonly kind: 'measure'; readonly rows: Int32Array; readonly runs: number; readonly warmup: number };

export type WorkerReply =
  | { readonly kind: 'ready' }
  | { readonly kind: 'failed'; readonly error: string }
  | { readonly kind: 'done'; readonly id: number; readonly result: LocalTrainingResult | EvalResult | number[]; readonly prefix?: PrefixCacheStats }
  | { readonly kind: 'error'; readonly id: number; readonly error: string };
