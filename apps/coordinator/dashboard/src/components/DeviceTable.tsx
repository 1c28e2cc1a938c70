/**
 * The live device table: sortable by any column, filterable by text and status, virtualized so
 * that only the rows in view are in the DOM (500 devices stay smooth at two pushes a second).
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { memo, useEffect, useMemo, useRef, useState } from 'react';
import type { DeviceActivity, DeviceRowView } from '../../../src/dashboard/contract';
import type { DeviceFilter, DeviceSort, DeviceSortKey } from '../device-rows';
import { fullDepthMsPerStep, progressFraction, visibleDevices } from '../device-rows';
import { formatAge, formatBytes, shortId } from '../format';

const ROW_HEIGHT = 34;
/** The table scrolls past this many rows; fewer rows make it shorter. */
const VISIBLE_ROWS = 13;

const COLUMNS: ReadonlyArray<{ key: DeviceSortKey; label: string; title?: string }> = [
  { key: 'deviceId', label: 'device' },
  { key: 'activity', label: 'status' },
  { key: 'backend', label: 'backend / adapter' },
  { key: 'speed', label: 'profile', title: 'measured ms per step at full depth, upload bandwidth, memory' },
  { key: 'group', label: 'group' },
  { key: 'depth', label: 'depth' },
  { key: 'localSteps', label: 'steps' },
  { key: 'progress', label: 'progress', title: 'round.intra-round: step / local steps, last loss' },
  { key: 'lastSeen', label: 'last seen' },
  { key: 'bytesUp', label: 'sent / received' },
];

interface DeviceTableProps {
  readonly devices: readonly DeviceRowView[];
  /** Server clock minus this page's clock, for "last seen". */
  readonly clockOffsetMs: number;
  readonly onRevoke?: (deviceId: string) => void;
}

export function DeviceTable({ devices, clockOffsetMs, onRevoke }: DeviceTableProps) {
  const [sort, setSort] = useState<DeviceSort>({ key: 'deviceId', descending: false });
  const [filter, setFilter] = useState<DeviceFilter>({ text: '', activity: 'all' });
  const rows = useMemo(() => visibleDevices(devices, sort, filter), [devices, sort, filter]);
  const now = useNow(1_000) + clockOffsetMs;

  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 8,
    getItemKey: (index) => rows[index]?.deviceId ?? index,
  });

  const toggleSort = (key: DeviceSortKey) =>
    setSort((s) => (s.key === key ? { key, descending: !s.descending } : { key, descending: key === 'lastSeen' || key === 'bytesUp' }));

  const counts = useMemo(() => countByActivity(devices), [devices]);

  return (
    <section className="card devices" aria-label="devices">
      <header className="panel-header">
        <h2>
          Devices <span className="muted">({devices.length}: {counts.training} training, {counts.idle} idle, {counts.gone} gone)</span>
        </h2>
        <div className="filters">
          <input
            type="search"
            placeholder="filter: id, backend, group"
            aria-label="filter devices"
            value={filter.text}
            onChange={(e) => setFilter((f) => ({ ...f, text: e.target.value }))}
          />
          <select aria-label="status filter" value={filter.activity} onChange={(e) => setFilter((f) => ({ ...f, activity: e.target.value as DeviceActivity | 'all' }))}>
            <option value="all">all</option>
            <option value="training">training</option>
            <option value="idle">idle</option>
            <option value="gone">gone</option>
          </select>
        </div>
      </header>
      <div className="device-grid" role="table" aria-rowcount={rows.length} data-testid="device-table">
        <div className="device-row head" role="row">
          {COLUMNS.map((c) => (
            <button key={c.key} type="button" role="columnheader" className="sort" title={c.title} onClick={() => toggleSort(c.key)} aria-sort={sortState(sort, c.key)}>
              {c.label}
              {sort.key === c.key ? (sort.descending ? ' ▾' : ' ▴') : ''}
            </button>
          ))}
          {onRevoke ? <span role="columnheader" /> : null}
        </div>
        <div className="device-scroll" ref={scrollRef} style={{ height: ROW_HEIGHT * Math.min(VISIBLE_ROWS, Math.max(rows.length, 2)) + 2 }}>
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {virtualizer.getVirtualItems().map((item) => {
              const device = rows[item.index] as DeviceRowView;
              return <DeviceRow key={item.key} device={device} now={now} top={item.start} onRevoke={onRevoke} />;
            })}
          </div>
          {rows.length === 0 ? <p className="muted empty">{devices.length === 0 ? 'No device has connected yet.' : 'No device matches the filter.'}</p> : null}
        </div>
      </div>
    </section>
  );
}

function sortState(sort: DeviceSort, key: DeviceSortKey): 'ascending' | 'descending' | 'none' {
  if (sort.key !== key) return 'none';
  return sort.descending ? 'descending' : 'ascending';
}

function countByActivity(devices: readonly DeviceRowView[]): Record<DeviceActivity, number> {
  const counts: Record<DeviceActivity, number> = { training: 0, idle: 0, gone: 0 };
  for (const d of devices) counts[d.activity]++;
  return counts;
}

/** Re-renders every `intervalMs` so ages stay current between pushes. */
function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

interface DeviceRowProps {
  readonly device: DeviceRowView;
  readonly now: number;
  readonly top: number;
  readonly onRevoke: ((deviceId: string) => void) | undefined;
}

const DeviceRow = memo(function DeviceRow({ device: d, now, top, onRevoke }: DeviceRowProps) {
  const fraction = progressFraction(d);
  const ms = fullDepthMsPerStep(d);
  const status = d.revoked ? 'revoked' : d.paused && d.activity !== 'gone' ? 'paused' : d.activity;
  return (
    <div className="device-row" role="row" data-testid="device-row" data-device-id={d.deviceId} data-activity={d.activity} style={{ transform: `translateY(${top}px)` }}>
      <span role="cell" title={d.deviceId} className="mono">
        {shortId(d.deviceId)}
      </span>
      <span role="cell">
        <span className={`pill ${status}`} data-testid="device-status" title={d.paused ? `paused: ${d.paused.join(', ')}` : undefined}>
          {status}
        </span>
      </span>
      <span role="cell" title={d.gpuAdapter ?? undefined} data-testid="device-backend">
        {d.backend ?? '–'}
        {d.gpuAdapter ? <span className="muted"> · {d.gpuAdapter}</span> : null}
        {d.fallbackAdapter ? <span className="muted"> (fallback)</span> : null}
      </span>
      <span role="cell" title={d.msPerStep ? `ms/step by depth: ${d.msPerStep.map((m) => m.toFixed(0)).join(' / ')}` : undefined}>
        {ms === null ? '–' : `${ms.toFixed(0)} ms`}
        {d.uploadBytesPerSec !== null ? <span className="muted"> · {formatBytes(d.uploadBytesPerSec)}/s</span> : null}
        {d.memoryBytes !== null ? <span className="muted"> · {formatBytes(d.memoryBytes)}</span> : null}
      </span>
      <span role="cell">{d.groupId ?? '–'}</span>
      <span role="cell">{d.depth ?? '–'}</span>
      <span role="cell">{d.localSteps ?? '–'}</span>
      <span role="cell" className="progress-cell" title={d.progress ? `loss ${d.progress.loss.toFixed(4)}` : undefined}>
        {d.progress && fraction !== null ? (
          <>
            <span className="bar">
              <span style={{ width: `${(fraction * 100).toFixed(0)}%` }} />
            </span>
            <span className="muted">
              r{d.progress.round}.{d.progress.intraRound} {d.progress.step}/{d.progress.localSteps}
            </span>
          </>
        ) : (
          '–'
        )}
      </span>
      <span role="cell">{formatAge(now - d.lastSeen)}</span>
      <span role="cell" data-testid="device-bytes">
        {formatBytes(d.bytesUp)} <span className="muted">/ {formatBytes(d.bytesDown)}</span>
      </span>
      {onRevoke ? (
        <span role="cell">
          <button type="button" className="small danger" disabled={d.revoked} onClick={() => onRevoke(d.deviceId)}>
            revoke
          </button>
        </span>
      ) : null}
    </div>
  );
});
