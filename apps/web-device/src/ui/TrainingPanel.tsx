import type { DeviceView } from '../device-session';

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export function TrainingPanel({ view }: { view: DeviceView }) {
  const run = view.run;
  const w = view.work;
  const fraction = w ? w.step / w.localSteps : 0;
  return (
    <section className="card">
      <dl>
        <dt>Round</dt>
        <dd data-testid="round">
          {run ? `${w?.round ?? run.round} of ${run.totalRounds}` : '–'}
          {run && <span className="muted"> · run {run.state}</span>}
        </dd>
        <dt>Local steps</dt>
        <dd>
          <progress data-testid="steps" max={w?.localSteps ?? 1} value={w?.step ?? 0} aria-label="local training steps" />
          <span className="muted"> {w ? `${w.step}/${w.localSteps} · depth ${w.depth}` : 'waiting for work'}</span>
        </dd>
        <dt>Local loss</dt>
        <dd data-testid="loss">{w?.loss != null ? w.loss.toFixed(4) : view.lastRoundLoss != null ? view.lastRoundLoss.toFixed(4) : '–'}</dd>
        <dt>Sent</dt>
        <dd data-testid="bytes-sent">
          {fmtBytes(view.bytesSent)} in {view.uploads} upload{view.uploads === 1 ? '' : 's'}
        </dd>
        {run?.lastAccuracy != null && (
          <>
            <dt>Global accuracy</dt>
            <dd>{(run.lastAccuracy * 100).toFixed(1)}%</dd>
          </>
        )}
      </dl>
      <meter hidden value={fraction} />
    </section>
  );
}
