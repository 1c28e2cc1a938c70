/** The parts of the resource profile that are not step times: upload bandwidth and usable memory. */

const PROBE_BYTES = 256 * 1024;
const GIB = 1024 * 1024 * 1024;

/** Bytes per second of one POST of random bytes to the coordinator's probe endpoint. */
export async function measureUploadBytesPerSec(url = '/api/probe/upload'): Promise<number> {
  const body = new Uint8Array(PROBE_BYTES);
  // getRandomValues fills at most 64 KiB per call; random bytes keep any compression out of the measurement.
  for (let off = 0; off < body.length; off += 65536) crypto.getRandomValues(body.subarray(off, off + 65536));
  const t0 = performance.now();
  const res = await fetch(url, { method: 'POST', body, cache: 'no-store' });
  if (!res.ok) throw new Error(`upload probe: HTTP ${res.status}`);
  await res.arrayBuffer();
  const seconds = Math.max((performance.now() - t0) / 1000, 1e-4);
  return PROBE_BYTES / seconds;
}

/** Memory the page may use for training: half of navigator.deviceMemory, else the JS heap limit, else 1 GiB. */
export function usableMemoryBytes(): number {
  const deviceMemoryGiB = (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
  if (typeof deviceMemoryGiB === 'number' && deviceMemoryGiB > 0) return (deviceMemoryGiB * GIB) / 2;
  const heap = (performance as Performance & { memory?: { jsHeapSizeLimit?: number } }).memory?.jsHeapSizeLimit;
  if (typeof heap === 'number' && heap > 0) return heap;
  return GIB;
}
