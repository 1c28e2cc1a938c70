/** The current run: its state, progress, strategy and the parameters it was started with. */
import { memo } from 'react';
import type { RunStatus } from '../../../../../packages/lora-core/src/protocol/messages';
import type { RunView } from '../../../src/dashboard/contract';
import { formatDuration, formatPercent, formatTime } from '../format';

interface RunInfoProps {
  readonly run: RunView | null;
  readonly status: RunStatus | null;
  readonly serverTime: number;
}

function formatValue(value: unknown): string {
  if (value === null || value === undefined) return '–';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export const RunInfo = memo(function RunInfo({ run, status, serverTime }: RunInfoProps) {
  if (!run) {
    return (
      <section className="card" aria-label="run">
        <h2>Run</h2>
        <p className="muted">No run yet.</p>
      </section>
    );
  }
  const elapsed = (run.finishedAt ?? serverTime) - run.createdAt;
  return (
    <section className="card" aria-label="run" data-testid="run-info">
      <header className="panel-header">
        <h2>
          Run <span className="mono" data-testid="run-id">{run.id}</span>
        </h2>
        <span className={`pill ${status?.state ?? run.status}`} data-testid="run-state">
          {status?.state ?? run.status}
        </span>
      </header>
      <dl className="summary">
        <dt>strategy</dt>
        <dd data-testid="run-strategy">{run.strategy}</dd>
        <dt>round</dt>
        <dd data-testid="run-round">{status ? `${status.round} / ${status.totalRounds}` : '–'}</dd>
        <dt>devices</dt>
        <dd>{status ? `${status.devicesJoined} joined, ${status.devicesExpected} expected` : '–'}</dd>
        <dt>last accuracy</dt>
        <dd>{formatPercent(status?.lastAccuracy)}</dd>
        <dt>started</dt>
        <dd>
          {formatTime(run.createdAt)} <span className="muted">({formatDuration(elapsed)}{run.finishedAt ? ', finished' : ''})</span>
        </dd>
        {status?.message ? (
          <>
            <dt>message</dt>
            <dd>{status.message}</dd>
          </>
        ) : null}
      </dl>
      <details>
        <summary>parameters</summary>
        <dl className="params">
          {Object.entries(run.config)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([key, value]) => (
              <div key={key} className="param">
                <dt>{key}</dt>
                <dd className="mono">{formatValue(value)}</dd>
              </div>
            ))}
        </dl>
      </details>
    </section>
  );
});
