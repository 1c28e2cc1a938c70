/** Binds virtual devices to their data: turns a local-training service into the engine's SimTrainMember. */
import type { LocalTrainingJob, LocalTrainingResult } from './local-trainer';
import type { SimTrainMember } from './engine';

/** Anything that runs a LocalTrainingJob: a LocalTrainer in this process, or a pool of workers. */
export interface TrainingService {
  train(job: LocalTrainingJob): Promise<LocalTrainingResult>;
}

/**
 * One run's members: device id → its rows of the training split. Keeps each device's local step
 * count so its batches continue through its data across rounds (a fresh binding per run starts
 * every device at step 0). A device's weight is its number of rows.
 */
export function bindMembers(service: TrainingService, rowsByDevice: ReadonlyMap<string, ArrayLike<number>>): SimTrainMember {
  const stepsTaken = new Map<string, number>();
  return async (a) => {
    const rows = rowsByDevice.get(a.deviceId);
    if (rows === undefined) throw new Error(`no data for device ${a.deviceId}`);
    const firstStep = stepsTaken.get(a.deviceId) ?? 0;
    stepsTaken.set(a.deviceId, firstStep + a.localSteps);
    const result = await service.train({ deviceId: a.deviceId, rows, depth: a.depth, localSteps: a.localSteps, firstStep, adapter: a.adapter });
    return { update: { deviceId: a.deviceId, numSamples: rows.length, delta: result.delta }, trainLoss: result.trainLoss };
  };
}
