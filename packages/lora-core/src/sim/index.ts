/** The simulation engine: many virtual devices, real training, simulated time (see engine.ts). */
export { DEFAULT_DEVICE_CLASSES, assignDeviceClasses, profileFor } from './device-classes';
export type { DeviceClass, JitterOptions } from './device-classes';
export { buildVirtualFleet, deviceId } from './fleet';
export type { VirtualDevice, VirtualFleetOptions } from './fleet';
export { computeMs, globalRoundMs, groupComputeMs, groupRoundMs, memberRoundMs, uploadMs } from './clock';
export { accuracyAt, meanCi, meanCurve } from './stats';
export type { MeanCi } from './stats';
export type { Contribution } from './clock';
export { simulate } from './engine';
export type { MemberTrainingResult, SimEvaluation, SimGroupRecord, SimRoundRecord, SimTrainMember, SimulationOptions } from './engine';
export { LocalTrainer, deviceBatchRows, hashSeed, lengthSortedSubset } from './local-trainer';
export type { LocalTrainerConfig, LocalTrainingJob, LocalTrainingResult } from './local-trainer';
export { bindMembers } from './members';
export type { TrainingService } from './members';
export { ratio, summarizeRun } from './metrics';
export type { RunSummary } from './metrics';
export { niceTicks, renderCurvesSvg } from './curves-svg';
export type { CurveChartOptions, CurvePanel, CurveSeries } from './curves-svg';
