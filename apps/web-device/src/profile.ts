/** The parts of the resource profile that are not step times: upload bandwidth and usable memory. */

const PROBE_BYTES = 256 * 1024;
const GIB = 1024 * 1024 * 1024;

/** What the profile uses when the probe cannot be measured: a modest link (1 MB/s), so planning errs slow, not fast. */
export const DEFAULT_UPLOAD_BYTES_PER_SEC = 1_000_000;
/** Tries of the probe when the coordinator answers 429/503 (rate limit, busy): the first and two retries. */
const PROBE_ATTEMPTS = 3;
/** Longest wait before a retry, whatever Retry-After asks: a page joining should not sit a minute on a measurement. */
const MAX_RETRY_WAIT_MS = 8_000;

export interface UploadMeasurement {
  readonly bytesPerSec: number;
  /** Set when the probe could not be measured and bytesPerSec is DEFAULT_UPLOAD_BYTES_PER_SEC: why. */
  readonly note?: string;
}

export interface ProbeOptions {
  readonly url?: string;
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * Bytes per second of one POST of random bytes to the coordinator's probe endpoint. The probe is
 * rate-limited per address (many tabs behind one NAT share it): a 429 or 503 is retried with backoff
 * (Retry-After, capped), and when it keeps coming the default is used with a note. Any other failure
 * (network, HTTP error) also falls back to the default with a note: the measurement only refines
 * the plan, it is no reason to keep the device out.
 */
export async function measureUploadBytesPerSec(options: ProbeOptions = {}): Promise<UploadMeasurement> {
  const url = options.url ?? '/api/probe/upload';
  const doFetch = options.fetch ?? fetch;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const body = new Uint8Array(PROBE_BYTES);
  // getRandomValues fills at most 64 KiB per call; random bytes keep any compression out of the measurement.
  for (let off = 0; off < body.length; off += 65536) crypto.getRandomValues(body.subarray(off, off + 65536));
  let why = '';
  for (let attempt = 1; attempt <= PROBE_ATTEMPTS; attempt++) {
    let res: Response;
    const t0 = performance.now();
    try {
      res = await doFetch(url, { method: 'POST', body, cache: 'no-store' });
      if (res.ok) await res.arrayBuffer();
    } catch (err) {
      why = `failed (${(err as Error).message})`;
      break;
    }
    if (res.ok) return { bytesPerSec: PROBE_BYTES / Math.max((performance.now() - t0) / 1000, 1e-4) };
    why = `answered HTTP ${res.status}`;
    if (!(res.status === 429 || res.status === 503) || attempt === PROBE_ATTEMPTS) break;
    await sleep(retryWaitMs(res.headers.get('Retry-After'), attempt));
  }
  return {
    bytesPerSec: DEFAULT_UPLOAD_BYTES_PER_SEC,
    note: `upload bandwidth probe ${why}; planning with a default of ${DEFAULT_UPLOAD_BYTES_PER_SEC / 1e6} MB/s`,
  };
}

/** Retry-After seconds when given, else 1 s, 2 s, …; at most MAX_RETRY_WAIT_MS. */
export function retryWaitMs(retryAfter: string | null, attempt: number): number {
  const seconds = retryAfter !== null && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter.trim()) : 2 ** (attempt - 1);
  return Math.min(seconds * 1000, MAX_RETRY_WAIT_MS);
}

/** Memory the page may use for training: half of navigator.deviceMemory, else the JS heap limit, else 1 GiB. */
export function usableMemoryBytes(): number {
  const deviceMemoryGiB = (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
  if (typeof deviceMemoryGiB === 'number' && deviceMemoryGiB > 0) return (deviceMemoryGiB * GIB) / 2;
  const heap = (performance as Performance & { memory?: { jsHeapSizeLimit?: number } }).memory?.jsHeapSizeLimit;
  if (typeof heap === 'number' && heap > 0) return heap;
  return GIB;
}
