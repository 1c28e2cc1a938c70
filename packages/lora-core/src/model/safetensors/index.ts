export { DTYPE_BYTES, FLOAT_DTYPES, float32ToBfloat16Bits, fromFloat32, toFloat32 } from './dtype';
export type { FloatDtype, SafetensorsDtype } from './dtype';
export { MAX_HEADER_BYTES, SafetensorsError, SafetensorsFile, numel } from './read';
export type { TensorInfo } from './read';
export { writeSafetensors } from './write';
export type { TensorToWrite } from './write';
