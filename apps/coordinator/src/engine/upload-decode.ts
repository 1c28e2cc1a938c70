/**
 * Decodes an upload's payload for aggregation. The decoded tensors are held until their group
 * aggregates, so they must not pin memory that is not theirs: a payload that is a slice of a
 * larger buffer (a socket read holding several frames) is copied out. A payload that is its whole
 * buffer (what ws hands over for a frame read in several chunks: every upload above 64 KiB) is
 * viewed in place: copying it was an eighth of a 10,000-device round's CPU.
 */
import { decodeAdapter } from '../core';
import type { AdapterState } from '../core';

/** True when `bytes` spans its whole ArrayBuffer (nothing else lives in that memory). */
export function ownsItsBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
}

export function decodeUpload(payload: Uint8Array, maxBytes: number): AdapterState {
  return decodeAdapter(payload, { maxBytes, copy: !ownsItsBuffer(payload) });
}
