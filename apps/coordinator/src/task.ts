/**
 * What the engine needs from the machine-learning side, as injected dependencies: the task's
 * description for devices, the initial adapter, the fleet's partitions, and evaluation of a global
 * adapter on the held-out set. The real implementation (a loaded task file, USE-lite, evaluation in
 * a worker thread) lives in federated-task.ts; unit tests pass small fakes.
 */
import type { AdapterState, TaskInfo } from './core';

export interface EvaluationResult {
  readonly accuracy: number;
  readonly loss: number;
}

export type EvaluateAdapter = (adapter: AdapterState) => Promise<EvaluationResult>;

/** One simulated device's share of the training data, as served to its tab. */
export interface PartitionData {
  readonly index: number;
  readonly classNames: readonly string[];
  readonly texts: readonly string[];
  readonly labels: readonly number[];
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
  dispose?(): void;
}
