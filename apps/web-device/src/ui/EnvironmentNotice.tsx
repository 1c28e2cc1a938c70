/**
 * What this page cannot do here, and how to fix it: no secure context (plain http:// to a LAN
 * address) loses WebGPU, threads and the wake lock; no cross-origin isolation loses threads.
 * Data-parallel Web Workers need neither, so such a page may still train on several cores.
 */
import type { DeviceView } from '../device-session';

export function EnvironmentNotice({ view }: { view: DeviceView }) {
  const workers = view.dataParallelWorkers ?? 1;
  const cores =
    workers > 1
      ? ` It still trains on ${workers} CPU cores: each step is split across ${workers} data-parallel Web Workers, which need no isolation.`
      : '';
  if (!view.secureContext) {
    return (
      <p className="warning" role="alert" data-testid="insecure-warning">
        This page is not a secure context ({window.location.protocol}//{window.location.host}). The browser withholds WebGPU, multi-threaded wasm,
        the screen wake lock and the device memory hint, so this device {workers > 1 ? 'has no multi-threaded kernels' : 'trains on one CPU core'} and may
        sleep mid-round.{cores} Fix: ask the operator to start the coordinator with <code>--https</code> and open the https:// link (trust its
        certificate once; see the README).
      </p>
    );
  }
  if (!view.isolated) {
    return (
      <p className="warning" role="alert" data-testid="isolation-warning">
        This page is not cross-origin isolated, so tfjs kernels cannot use more than one CPU core (no SharedArrayBuffer).{cores} The coordinator
        sends the COOP/COEP headers that isolate it; a proxy in between that drops them, or an old browser, is the likely cause.
      </p>
    );
  }
  return null;
}
