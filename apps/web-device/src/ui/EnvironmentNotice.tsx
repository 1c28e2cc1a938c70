/**
 * What this page cannot do here, and how to fix it: no secure context (plain http:// to a LAN
 * address) loses WebGPU, threads and the wake lock; no cross-origin isolation loses threads.
 */
import type { DeviceView } from '../device-session';

export function EnvironmentNotice({ view }: { view: DeviceView }) {
  if (!view.secureContext) {
    return (
      <p className="warning" role="alert" data-testid="insecure-warning">
        This page is not a secure context ({window.location.protocol}//{window.location.host}). The browser withholds WebGPU, multi-threaded wasm,
        the screen wake lock and the device memory hint, so this device trains on one CPU core and may sleep mid-round. Fix: ask the operator to
        start the coordinator with <code>--https</code> and open the https:// link (trust its certificate once; see the README).
      </p>
    );
  }
  if (!view.isolated) {
    return (
      <p className="warning" role="alert" data-testid="isolation-warning">
        This page is not cross-origin isolated, so tfjs cannot use more than one CPU core (no SharedArrayBuffer). The coordinator sends the
        COOP/COEP headers that isolate it; a proxy in between that drops them, or an old browser, is the likely cause.
      </p>
    );
  }
  return null;
}
