/**
 * Who this page is, across reloads: a deviceId and the join token kept in localStorage, plus the
 * per-visit choices from the URL (?token=, ?mode=fleet|own, ?backend=webgpu|webgl|wasm|cpu, and
 * ?slowdown=S, which emulates a device S times slower: see slowdown.ts).
 */
import { BACKEND_NAMES, DATA_MODES } from './core';
import type { BackendName, DataMode } from './core';
import { parseSlowdown } from './slowdown';

const DEVICE_ID_KEY = 'tabfleet.deviceId';
const TOKEN_KEY = 'tabfleet.token';

export interface Identity {
  readonly deviceId: string;
  readonly token: string | undefined;
  /** Undefined: let the person choose on the page. */
  readonly mode: DataMode | undefined;
  readonly forcedBackend: BackendName | undefined;
  /** Each training step is stretched to this many times its duration (1 = as fast as the device is). */
  readonly slowdown: number;
}

function newDeviceId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `dev-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

export function loadIdentity(storage: Storage, search: string): Identity {
  const params = new URLSearchParams(search);
  let deviceId = storage.getItem(DEVICE_ID_KEY);
  if (deviceId === null || !/^[A-Za-z0-9_-]{8,64}$/.test(deviceId)) {
    deviceId = newDeviceId();
    storage.setItem(DEVICE_ID_KEY, deviceId);
  }
  const urlToken = params.get('token');
  if (urlToken) storage.setItem(TOKEN_KEY, urlToken);
  const token = urlToken ?? storage.getItem(TOKEN_KEY) ?? undefined;
  const mode = params.get('mode');
  const backend = params.get('backend');
  if (backend !== null && !(BACKEND_NAMES as readonly string[]).includes(backend)) {
    throw new Error(`?backend=${backend} is not one of ${BACKEND_NAMES.join(', ')}`);
  }
  return {
    deviceId,
    token,
    mode: (DATA_MODES as readonly string[]).includes(mode ?? '') ? (mode as DataMode) : undefined,
    forcedBackend: (backend ?? undefined) as BackendName | undefined,
    slowdown: parseSlowdown(params.get('slowdown')),
  };
}
