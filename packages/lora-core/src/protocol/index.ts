export {
  ADAPTER_CODEC_MAGIC,
  ADAPTER_CODEC_VERSION,
  AdapterCodecError,
  decodeAdapter,
  encodeAdapter,
  isBlockKey,
} from './adapter-codec';
export type { AdapterDtype, DecodeOptions, EncodeOptions } from './adapter-codec';
export {
  adamCoordinateBound,
  adamDeltaNormBound,
  blockL2Norms,
  coordinateBoundProblems,
  findNonFinite,
  normBoundProblems,
  sameShape,
  shapesOf,
  validateAdapter,
} from './adapter-validation';
export type { AdapterExpectation, AdapterShapes, NonFiniteValue } from './adapter-validation';
export { checkDeltaValues } from './delta-values';
export type { ValueBounds, ValueCheck } from './delta-values';
export { decodeFloat16, encodeFloat16, float16BitsToFloat32, float32ToFloat16Bits } from './float16';
export * from './messages';
