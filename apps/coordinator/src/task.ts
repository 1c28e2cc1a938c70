/**
 * What the engine needs from the machine-learning side, as injected dependencies: the task's
 * description for devices, the initial adapter, the fleet's partitions, and evaluation of a global
 * adapter on the held-out set. The real implementation (a loaded task file, USE-lite, evaluation in
 * a worker thread) lives in federated-task.ts; unit tests pass small fakes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdapterState, CausalLmRow, TaskInfo } from './core';

export interface EvaluationResult {
  /** Classification: accuracy; causal-LM: top-1 next-token accuracy on the loss tokens. */
  readonly accuracy: number;
  /** Mean cross-entropy (causal-LM: per loss token, nats). */
  readonly loss: number;
  /** Causal-LM: exp(loss). */
  readonly perplexity?: number;
}

export type EvaluateAdapter = (adapter: AdapterState) => Promise<EvaluationResult>;

/** One simulated device's share of the training data, as served to its tab. */
export interface PartitionData {
  readonly index: number;
  readonly classNames: readonly string[];
  readonly texts: readonly string[];
  readonly labels: readonly number[];
  /** Causal-LM tasks: the rows themselves (texts is then empty, labels are category indices). */
  readonly rows?: readonly CausalLmRow[];
}

export interface FleetData {
  /** 0 when the task has no training file (own-data devices only). */
  readonly numPartitions: number;
  partition(index: number): PartitionData;
}

/** What the dashboard and /api/status say about the task. */
export interface TaskSummary {
  readonly name: string;
  /** builtin:wordnet, a task file's path, or the --train/--eval shorthand. */
  readonly origin: string;
  /** Content hash of the task and its files (sha256 hex). */
  readonly hash: string;
  readonly classNames: readonly string[];
  readonly model: string;
  readonly objective: string;
  readonly trainRows: number;
  /** 'file': the task's eval file; 'holdout': held out of the training file; 'none': no evaluation set. */
  readonly evalSource: 'file' | 'holdout' | 'none';
  readonly evalRows: number;
  /** Rows scored per round (a seeded stratified sample of evalRows, or all of them). */
  readonly evalScoredRows: number;
  /** Causal-LM tasks: the checkpoint the tabs download and what grouping sees. */
  readonly lm?: {
    readonly modelType: string;
    /** Absolute path of the checkpoint directory on the coordinator's machine. */
    readonly modelDir: string;
    readonly layers: number;
    readonly modelBytes: number;
    readonly modelHash: string;
    /** Absent: no categorical field, devices are grouped by resources only. */
    readonly categoryField?: string;
    /** Topic clusters (no category field): k, and how many evaluation rows fell in each. */
    readonly topics?: { readonly k: number; readonly evalRowsPerTopic: readonly number[]; readonly ms: number };
    /** The near-IID grouping statistic: 'category field "x"', 'k topic clusters' or 'resources only (…)'. */
    readonly grouping: string;
    readonly initAdapter?: string;
  };
}

/** A PEFT LoRA adapter as files (adapter_config.json, adapter_model.safetensors). */
export interface PeftAdapterFiles {
  readonly configJson: string;
  readonly weights: Uint8Array;
  readonly layers: readonly number[];
}

export interface FederatedTask {
  readonly info: TaskInfo;
  /** Optional for fakes; the real task always has one. */
  readonly summary?: TaskSummary;
  readonly initialAdapter: AdapterState;
  readonly fleet: FleetData;
  /** Absent when the task has no evaluation set: rounds then record no metric. */
  readonly evaluate?: EvaluateAdapter;
  /** Optional: memoryBytesByDepth[d - 1] for the planner (see PlanContext). */
  readonly memoryBytesByDepth?: readonly number[];
  /** HTTP handler for files tabs download besides the page (causal-LM: the checkpoint under /hf-model/); true when it answered. */
  readonly serveFiles?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Causal-LM tasks: a stored adapter as a PEFT adapter (layers no group trained are left out). */
  readonly exportPeft?: (adapter: AdapterState) => Promise<PeftAdapterFiles>;
  dispose?(): void;
}
