import type { DataMode } from '../core';

interface Props {
  readonly onMode: ((mode: DataMode) => void) | undefined;
  readonly onFile: ((file: File) => void) | undefined;
  readonly classNames: readonly string[] | undefined;
}

/** Fleet data or a local file; a picked file is read in the page and never uploaded. */
export function DataChooser({ onMode, onFile, classNames }: Props) {
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
          {classNames && <span className="muted">Labels: {classNames.join(', ')}</span>}
        </label>
      )}
    </section>
  );
}
