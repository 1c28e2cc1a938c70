/**
 * What the engine needs from the machine-learning side, as injected dependencies: the task's
 * description for devices, the initial adapter, the fleet's partitions, and evaluation of a global
 * adapter on the held-out test set. The real implementation (WordNet + USE-lite + tfjs wasm) lives
 * in wordnet-task.ts; unit tests pass small fakes.
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
  readonly numPartitions: number;
  partition(index: number): PartitionData;
}

export interface FederatedTask {
  readonly info: TaskInfo;
  readonly initialAdapter: AdapterState;
  readonly fleet: FleetData;
  readonly evaluate: EvaluateAdapter;
  /** Optional: memoryBytesByDepth[d - 1] for the planner (see PlanContext). */
  readonly memoryBytesByDepth?: readonly number[];
  dispose?(): void;
}
