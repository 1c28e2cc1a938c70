/**
 * Causal-LM runs: held-out loss, perplexity (exp of the loss) and top-1 next-token accuracy per
 * round, the checkpoint the tabs fine-tune, and (admin) the round's adapter as a PEFT download.
 */
import { memo, useState } from 'react';
import type { RoundView, RunView, TaskView } from '../../../src/dashboard/contract';
import { downloadPeftAdapter } from '../export-adapter';

interface Props {
  readonly task: TaskView;
  readonly run: RunView | null;
  readonly rounds: readonly RoundView[];
  /** Present for admin sockets: enables the export button. */
  readonly adminToken?: string;
}

export const LmMetrics = memo(function LmMetrics({ task, run, rounds, adminToken }: Props) {
  const [note, setNote] = useState('');
  const scored = rounds.filter((r) => r.loss !== null);
  const latest = scored.at(-1);
  const lm = task.lm;
  const onExport = () => {
    if (!run || !latest || !adminToken) return;
    setNote('exporting…');
    downloadPeftAdapter(run.id, latest.round, adminToken).then(
      (name) => setNote(`saved ${name}`),
      (err: unknown) => setNote((err as Error).message),
    );
  };
  return (
    <section className="card" aria-label="causal-LM evaluation" data-testid="lm-metrics">
      <h2>Causal-LM evaluation</h2>
      {lm ? (
        <p className="muted" data-testid="lm-model">
          {lm.modelType} · {lm.layers} layers · {(lm.modelBytes / 2 ** 20).toFixed(1)} MiB · <span data-testid="lm-grouping">near-IID grouping statistic: {lm.grouping}</span>
          {lm.initAdapter ? ` · started from ${lm.initAdapter}` : ''}
        </p>
      ) : null}
      <table>
        <thead>
          <tr>
            <th>round</th>
            <th>held-out loss</th>
            <th>perplexity</th>
            <th>next-token accuracy</th>
          </tr>
        </thead>
        <tbody>
          {scored.map((r) => (
            <tr key={r.round} data-testid={`lm-round-${r.round}`}>
              <td>{r.round}</td>
              <td data-testid="lm-loss">{(r.loss as number).toFixed(4)}</td>
              <td data-testid="lm-perplexity">{Math.exp(r.loss as number).toFixed(3)}</td>
              <td>{r.accuracy === null ? '—' : `${(r.accuracy * 100).toFixed(1)}%`}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {adminToken && run && latest ? (
        <p>
          <button type="button" data-testid="export-peft" onClick={onExport}>
            Export round {latest.round} as PEFT adapter
          </button>{' '}
          <span className="muted" data-testid="export-peft-note">{note}</span>
        </p>
      ) : null}
    </section>
  );
});
