/** Admin controls: start a run with a strategy and its parameters, stop it, export the global adapter. */
import { useEffect, useState } from 'react';
import type { RoundView, RunParams, RunView } from '../../../src/dashboard/contract';
import type { AdminResult } from '../connection';
import { downloadAdapter } from '../export-adapter';
import type { RunForm } from '../run-form';
import { formFromParams, paramsFromForm } from '../run-form';

interface RunControlsProps {
  readonly adminToken: string;
  readonly strategies: readonly string[];
  readonly defaultParams: RunParams;
  readonly run: RunView | null;
  readonly running: boolean;
  readonly rounds: readonly RoundView[];
  readonly onStart: (params: RunParams) => Promise<AdminResult>;
  readonly onStop: () => Promise<AdminResult>;
}

const FIELDS: ReadonlyArray<{ key: keyof RunParams; label: string; hint?: string }> = [
  { key: 'rounds', label: 'rounds' },
  { key: 'devicesExpected', label: 'devices to wait for' },
  { key: 'groups', label: 'groups', hint: 'empty = automatic' },
  { key: 'localSteps', label: 'local steps' },
  { key: 'batchSize', label: 'batch size' },
  { key: 'learningRate', label: 'adapter learning rate' },
  { key: 'headLearningRate', label: 'head learning rate' },
  { key: 'seed', label: 'seed' },
  { key: 'roundTimeoutS', label: 'round timeout (s)' },
  { key: 'minReportFraction', label: 'min. report fraction' },
  { key: 'trimFraction', label: 'trim fraction' },
  { key: 'clipNorm', label: 'clip norm', hint: 'number, auto, or empty = none' },
  { key: 'budgetRule', label: 'budget rule', hint: 'group, device, rate, floor; empty = group' },
  { key: 'memberDepth', label: 'member depth', hint: 'group or member; empty = group' },
  { key: 'weighting', label: 'group weighting', hint: 'samples or work; empty = samples' },
  { key: 'loraAggregation', label: 'LoRA aggregation', hint: 'separate or exact; empty = separate' },
];

const ROBUST = ['mean', 'median', 'trimmed-mean', 'cosine-mean'] as const;

export function RunControls({ adminToken, strategies, defaultParams, run, running, rounds, onStart, onStop }: RunControlsProps) {
  const [form, setForm] = useState<RunForm>(() => formFromParams(defaultParams));
  const [dirty, setDirty] = useState(false);
  const [errors, setErrors] = useState<Partial<Record<keyof RunParams, string>>>({});
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [exportRound, setExportRound] = useState('latest');

  // Follow the server's defaults until the admin edits the form.
  useEffect(() => {
    if (!dirty) setForm(formFromParams(defaultParams));
  }, [defaultParams, dirty]);

  const set = (key: keyof RunParams, value: string) => {
    setDirty(true);
    setForm((f) => ({ ...f, [key]: value }));
  };

  const act = async (what: string, action: () => Promise<AdminResult>) => {
    setBusy(true);
    try {
      const result = await action();
      setMessage(result.ok ? { ok: true, text: `${what}${result.runId ? `: ${result.runId}` : ''}` } : { ok: false, text: result.error });
    } finally {
      setBusy(false);
    }
  };

  const start = () => {
    const parsed = paramsFromForm(form);
    if (!parsed.ok) {
      setErrors(parsed.errors);
      setMessage({ ok: false, text: 'Some parameters are invalid.' });
      return;
    }
    setErrors({});
    void act('Run started', () => onStart(parsed.params)).then(() => setDirty(false));
  };

  const exportAdapter = () => {
    if (!run) return;
    const round = exportRound === 'latest' ? undefined : Number(exportRound);
    setBusy(true);
    downloadAdapter(run.id, round, adminToken)
      .then((name) => setMessage({ ok: true, text: `Saved ${name}` }))
      .catch((err: Error) => setMessage({ ok: false, text: err.message }))
      .finally(() => setBusy(false));
  };

  const completedRounds = rounds.filter((r) => r.round >= 0).map((r) => r.round);

  return (
    <section className="card controls" aria-label="run controls" data-testid="run-controls">
      <h2>Controls</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          start();
        }}
      >
        <div className="form-grid">
          <label>
            strategy
            <select value={form.strategy} onChange={(e) => set('strategy', e.target.value)}>
              {strategies.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label>
            robust aggregation
            <select value={form.robust} onChange={(e) => set('robust', e.target.value)}>
              {ROBUST.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </label>
          {FIELDS.map((f) => (
            <label key={f.key} className={errors[f.key] ? 'invalid' : undefined}>
              {f.label}
              <input value={form[f.key]} placeholder={f.hint} inputMode={f.key === 'clipNorm' ? 'text' : 'decimal'} onChange={(e) => set(f.key, e.target.value)} />
              {errors[f.key] ? <small className="field-error">{errors[f.key]}</small> : null}
            </label>
          ))}
        </div>
        <div className="button-row">
          <button type="submit" disabled={busy || running} title={running ? 'stop the current run first' : undefined}>
            Start run
          </button>
          <button type="button" className="danger" disabled={busy || !running} onClick={() => void act('Run stopped', onStop)}>
            Stop run
          </button>
          <button
            type="button"
            className="secondary"
            disabled={!dirty}
            onClick={() => {
              setDirty(false);
              setErrors({});
            }}
          >
            Reset to defaults
          </button>
        </div>
      </form>
      <div className="button-row export">
        <label>
          global adapter of round{' '}
          <select value={exportRound} onChange={(e) => setExportRound(e.target.value)}>
            <option value="latest">latest</option>
            {completedRounds.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <button type="button" className="secondary" disabled={busy || !run} onClick={exportAdapter}>
          Export adapter
        </button>
      </div>
      {message ? (
        <p className={message.ok ? 'ok' : 'error'} role="status" data-testid="controls-message">
          {message.text}
        </p>
      ) : null}
    </section>
  );
}
