/** The past runs recorded in the database, each with a checkbox to overlay its curves on the charts. */
import { memo } from 'react';
import type { RunSummary } from '../../../src/dashboard/contract';
import { formatPercent } from '../format';

interface PastRunsProps {
  readonly runs: readonly RunSummary[];
  readonly selected: ReadonlySet<string>;
  readonly onToggle: (runId: string) => void;
}

function finalAccuracy(s: RunSummary): number | null {
  const last = [...s.rounds].filter((r) => r.accuracy !== null).sort((a, b) => b.round - a.round)[0];
  return last?.accuracy ?? null;
}

export const PastRuns = memo(function PastRuns({ runs, selected, onToggle }: PastRunsProps) {
  return (
    <section className="card" aria-label="past runs">
      <h2>
        Compare with past runs <span className="muted">({runs.length})</span>
      </h2>
      {runs.length === 0 ? <p className="muted">No earlier run in the database.</p> : null}
      <ul className="past-runs">
        {runs.map((s) => (
          <li key={s.run.id}>
            <label>
              <input type="checkbox" checked={selected.has(s.run.id)} onChange={() => onToggle(s.run.id)} /> <span className="mono">{s.run.id}</span> · {s.run.strategy} ·{' '}
              {s.run.status} · {s.rounds.filter((r) => r.round > 0).length} rounds · final {formatPercent(finalAccuracy(s))}
            </label>
          </li>
        ))}
      </ul>
    </section>
  );
});
