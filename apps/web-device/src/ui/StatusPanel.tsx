import type { DeviceView } from '../device-session';

const fmtMs = (ms: number | null | undefined) => (ms == null ? '–' : ms < 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(0)} ms`);

export function StatusPanel({ view }: { view: DeviceView }) {
  const b = view.backend;
  return (
    <section className="card">
      <dl>
        <dt>Device</dt>
        <dd data-testid="device-id">{view.deviceId}</dd>
        <dt>Status</dt>
        <dd data-testid="phase">
          {view.phase}
          {view.message && <span className="muted"> · {view.message}</span>}
        </dd>
        <dt>Backend</dt>
        <dd data-testid="backend">
          {b ? `${b.name}${b.forced ? ' (forced)' : ''}` : '…'}
          {b?.name === 'wasm' && view.wasmThreads !== undefined && (
            <span data-testid="wasm-threads">
              {' '}
              · {view.wasmThreads} thread{view.wasmThreads === 1 ? '' : 's'}
              {view.wasmThreads < view.wasmThreadsWanted && ` (asked for ${view.wasmThreadsWanted})`}
            </span>
          )}
          {b?.name === 'wasm' && (view.dataParallelWorkers ?? 1) > 1 && (
            <span data-testid="data-parallel">
              {' '}
              · training steps on {view.dataParallelWorkers} data-parallel workers × 1 thread
              {(view.dataParallelWorkers ?? 1) < view.dataParallelWanted && ` (asked for ${view.dataParallelWanted})`}
            </span>
          )}
          {view.dataParallelNote && <span className="muted" data-testid="data-parallel-note"> · {view.dataParallelNote}</span>}
          {view.backendCached && <span className="muted"> · cached choice</span>}
          {b?.gpuAdapter?.isFallbackAdapter && <span className="muted"> · software GPU adapter</span>}
        </dd>
        {view.trials.length > 0 && (
          <>
            <dt>Step time</dt>
            <dd className="muted" data-testid="trials">
              {view.trials.map((t) => `${t.name}${t.dataParallelWorkers ? ` ×${t.dataParallelWorkers} workers` : ''} ${t.ms === null ? 'n/a' : fmtMs(t.ms)}`).join(' · ')}
            </dd>
          </>
        )}
        {view.modelDownload && (
          <>
            <dt>Model</dt>
            <dd data-testid="model-download">
              {(view.modelDownload.loadedBytes / 2 ** 20).toFixed(1)} / {(view.modelDownload.totalBytes / 2 ** 20).toFixed(1)} MiB
              {view.modelDownload.downloaded === undefined
                ? ` · ${view.modelDownload.file}`
                : view.modelDownload.downloaded.length === 0
                  ? ' · from the browser cache'
                  : ` · downloaded ${view.modelDownload.downloaded.length} files, cached for the next visit`}
            </dd>
          </>
        )}
        <dt>Data</dt>
        <dd data-testid="data">
          {view.mode === 'fleet' && view.partitionIndex !== undefined ? `fleet partition ${view.partitionIndex}` : view.mode === 'own' ? 'own file' : '–'}
          {view.numSamples !== undefined && ` · ${view.numSamples} samples`}
        </dd>
        {view.profile && (
          <>
            <dt>Profile</dt>
            <dd className="muted" data-testid="profile">
              {view.profile.msPerStep.map((ms) => fmtMs(ms)).join(' / ')} per step by depth
              {view.profileNote && <span data-testid="profile-note"> · {view.profileNote}</span>}
            </dd>
          </>
        )}
      </dl>
    </section>
  );
}
