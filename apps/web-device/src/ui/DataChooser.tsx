import type { DataMode } from '../core';
import type { LabelMismatch } from '../device-session';

interface Props {
  readonly onMode: ((mode: DataMode) => void) | undefined;
  readonly onFile: ((file: File) => void) | undefined;
  readonly classNames: readonly string[] | undefined;
  /** A picked file holds labels outside the task's set: offer its known rows, or another file. */
  readonly mismatch?: LabelMismatch | undefined;
  readonly onUseKnownRows?: (() => void) | undefined;
}

/** Fleet data or a local file; a picked file is read in the page and never uploaded. */
export function DataChooser({ onMode, onFile, classNames, mismatch, onUseKnownRows }: Props) {
  return (
    <section className="card">
      {onMode && (
        <div className="buttons">
          <button type="button" onClick={() => onMode('fleet')}>
            Use simulated fleet data
          </button>
          <button type="button" onClick={() => onMode('own')}>
            Use my own file
          </button>
        </div>
      )}
      {onFile && (
        <label className="file">
          <span>JSONL or CSV with “text” and “label” — it stays on this device.</span>
          <input
            type="file"
            accept=".jsonl,.ndjson,.csv,application/json,text/csv"
            data-testid="file-input"
            onChange={(e) => {
              const file = e.currentTarget.files?.[0];
              if (file) onFile(file);
            }}
          />
          {classNames && (
            <span className="muted" data-testid="task-labels">
              This task’s labels ({classNames.length}): {classNames.join(', ')}
            </span>
          )}
        </label>
      )}
      {mismatch && onUseKnownRows && (
        <div className="mismatch" data-testid="label-mismatch">
          <p>
            {mismatch.fileName}: {mismatch.unknownRows} of {mismatch.knownRows + mismatch.unknownRows} rows have labels this task does not know (
            {mismatch.unknown.map((u) => `${u.label} ×${u.count}`).join(', ')}). Nothing was dropped.
          </p>
          <button type="button" data-testid="use-known-rows" onClick={onUseKnownRows}>
            Train on the {mismatch.knownRows} rows with known labels only
          </button>
          <span className="muted"> or pick another file above.</span>
        </div>
      )}
    </section>
  );
}
