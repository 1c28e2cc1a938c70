/**
 * Who this page is, across reloads: a deviceId and the join token kept in localStorage, plus the
 * per-visit choices from the URL (?token=, ?mode=fleet|own, ?backend=webgpu|webgl|wasm|cpu, and
 * ?slowdown=S, which emulates a device S times slower: see slowdown.ts; ?poison=scale:K|signflip:K,
 * an attack-emulation tab: see poison.ts; ?stall=S, uploads held S seconds: see stall.ts; ?threads=N, wasm threads; ?workers=N, data-parallel
 * Web Workers, see parallel/worker-count.ts).
 */
import { BACKEND_NAMES, DATA_MODES } from './core';
import type { BackendName, DataMode } from './core';
import { parsePoison } from './poison';
import type { Poison } from './poison';
import { parseSlowdown } from './slowdown';
import { parseStallMs } from './stall';

const DEVICE_ID_KEY = 'tabfleet.deviceId';
const TOKEN_KEY = 'tabfleet.token';
const DEVICE_KEY_KEY = 'tabfleet.deviceKey';

export interface Identity {
  readonly deviceId: string;
  /** The device's own secret: the coordinator binds the id to it, so nobody else can speak for this device. */
  readonly deviceKey: string;
  readonly token: string | undefined;
  /** Undefined: let the person choose on the page. */
  readonly mode: DataMode | undefined;
  readonly forcedBackend: BackendName | undefined;
  /** Each training step is stretched to this many times its duration (1 = as fast as the device is). */
  readonly slowdown: number;
  /** Attack emulation: uploads are the honest delta times poisonMultiplier(poison). */
  readonly poison: Poison | undefined;
  /** Each upload is held this long after training (?stall=: a device that goes quiet; see stall.ts). */
  readonly stallMs: number;
  /** ?threads=N: wasm threads wanted (benchmarks); undefined = chosen from hardwareConcurrency. */
  readonly threads: number | undefined;
  /** ?workers=N: data-parallel Web Workers wanted (1 = none); undefined = chosen from the cores. */
  readonly workers: number | undefined;
}

const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, '0')).join('');

function newDeviceId(): string {
  return `dev-${hex(12)}`;
}

export function loadIdentity(storage: Storage, search: string): Identity {
  const params = new URLSearchParams(search);
  let deviceId = storage.getItem(DEVICE_ID_KEY);
  if (deviceId === null || !/^[A-Za-z0-9_-]{8,64}$/.test(deviceId)) {
    deviceId = newDeviceId();
    storage.setItem(DEVICE_ID_KEY, deviceId);
  }
  let deviceKey = storage.getItem(DEVICE_KEY_KEY);
  if (deviceKey === null || !/^[A-Za-z0-9_-]{16,128}$/.test(deviceKey)) {
    deviceKey = hex(24);
    storage.setItem(DEVICE_KEY_KEY, deviceKey);
  }
  const urlToken = params.get('token');
  if (urlToken) storage.setItem(TOKEN_KEY, urlToken);
  const token = urlToken ?? storage.getItem(TOKEN_KEY) ?? undefined;
  const mode = params.get('mode');
  const backend = params.get('backend');
  if (backend !== null && !(BACKEND_NAMES as readonly string[]).includes(backend)) {
    throw new Error(`?backend=${backend} is not one of ${BACKEND_NAMES.join(', ')}`);
  }
  const threadsRaw = params.get('threads');
  const threads = threadsRaw === null ? undefined : Number(threadsRaw);
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= 8)) {
    throw new Error(`?threads=${threadsRaw} must be an integer from 1 to 8`);
  }
  const workersRaw = params.get('workers');
  const workers = workersRaw === null ? undefined : Number(workersRaw);
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1 && workers <= 8)) {
    throw new Error(`?workers=${workersRaw} must be an integer from 1 to 8`);
  }
  return {
    deviceId,
    deviceKey,
    token,
    mode: (DATA_MODES as readonly string[]).includes(mode ?? '') ? (mode as DataMode) : undefined,
    forcedBackend: (backend ?? undefined) as BackendName | undefined,
    slowdown: parseSlowdown(params.get('slowdown')),
    poison: parsePoison(params.get('poison')),
    stallMs: parseStallMs(params.get('stall')),
    threads,
    workers,
  };
}
