import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { DeviceSession } from './device-session';
import type { DeviceView } from './device-session';
import { loadIdentity } from './identity';
import type * as Microbench from './backend/microbench';
import './styles.css';

declare global {
  interface Window {
    /** Read-only hook for end-to-end tests and curious people: the device's current state. */
    __tabfleet?: {
      view: () => DeviceView;
      /** One training step's loss on a batch, from the task's initial adapter (backend comparisons). */
      probeStepLoss: (texts: string[], labels: number[], depth: number, steps?: number) => Promise<number>;
      /** The tfjs backend actually active and, for wasm, its thread count (specs check the page's report against it). */
      tfState: () => Promise<{ backend: string | undefined; wasmThreads: number | undefined }>;
      /** Raw-kernel figures on the active backend (npm run bench:device): matMul GFLOP/s and a training step's kernel profile. */
      microbench: () => Promise<typeof Microbench>;
    };
  }
}

const root = createRoot(document.getElementById('root') as HTMLElement);
try {
  const session = new DeviceSession(loadIdentity(window.localStorage, window.location.search));
  window.__tabfleet = {
    view: () => session.view,
    probeStepLoss: (texts, labels, depth, steps) => session.probeStepLoss(texts, labels, depth, steps),
    tfState: async () => {
      const [tf, threads] = await Promise.all([import('@tensorflow/tfjs-core'), import('./backend/threads')]);
      return { backend: tf.getBackend(), wasmThreads: tf.getBackend() === 'wasm' ? threads.wasmThreadsInUse() : undefined };
    },
    microbench: () => import('./backend/microbench'),
  };
  root.render(
    <StrictMode>
      <App session={session} />
    </StrictMode>,
  );
  void session.start();
} catch (err) {
  root.render(<p className="error">{(err as Error).message}</p>);
}
