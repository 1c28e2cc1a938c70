/**
 * The first dashboard: one server-rendered page (devices, rounds, accuracy per round) that
 * refreshes itself. No client code; the live React dashboard is a later piece of work.
 */
import type { Snapshot } from '../snapshot';

const REFRESH_SECONDS = 2;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)}%`);
const num = (x: number | null, digits = 3) => (x === null ? '–' : x.toFixed(digits));

/** Accuracy against round as an inline SVG polyline (0..100% on the y axis). */
export function accuracyChart(points: ReadonlyArray<{ round: number; accuracy: number }>): string {
  const w = 480;
  const h = 180;
  const pad = 28;
  if (points.length === 0) return '<p class="muted">No evaluated rounds yet.</p>';
  const maxRound = Math.max(1, ...points.map((p) => p.round));
  const x = (r: number) => pad + ((w - 2 * pad) * r) / maxRound;
  const y = (a: number) => h - pad - (h - 2 * pad) * Math.min(1, Math.max(0, a));
  const line = points.map((p) => `${x(p.round).toFixed(1)},${y(p.accuracy).toFixed(1)}`).join(' ');
  const dots = points
    .map((p) => `<circle cx="${x(p.round).toFixed(1)}" cy="${y(p.accuracy).toFixed(1)}" r="3"><title>round ${p.round}: ${pct(p.accuracy)}</title></circle>`)
    .join('');
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((t) => `<text x="2" y="${(y(t) + 4).toFixed(1)}">${t * 100}%</text><line x1="${pad}" x2="${w - pad}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" class="grid"/>`)
    .join('');
  return `<svg id="accuracy-chart" viewBox="0 0 ${w} ${h}" role="img" aria-label="test accuracy per round">${ticks}<polyline points="${line}"/>${dots}<text x="${w - pad}" y="${h - 6}" text-anchor="end">round</text></svg>`;
}

export function renderDashboard(s: Snapshot, deviceUrl: string): string {
  const st = s.status;
  const deviceRows = s.devices
    .map(
      (d) => `<tr data-device-id="${escapeHtml(d.deviceId)}">
  <td title="${escapeHtml(d.deviceId)}">${escapeHtml(d.deviceId.slice(0, 10))}</td>
  <td>${d.connected ? d.activity : 'gone'}</td>
  <td>${escapeHtml(d.backend ?? '–')}${d.backendForced ? ' (forced)' : ''}${d.fallbackAdapter ? ' (fallback adapter)' : ''}</td>
  <td>${d.partitionIndex ?? escapeHtml(d.dataMode)}</td>
  <td>${d.numSamples ?? '–'}</td>
  <td>${d.msPerStep ? escapeHtml(d.msPerStep.map((m) => m.toFixed(0)).join(' / ')) : '–'}</td>
  <td>${escapeHtml(d.groupId ?? '–')} / ${d.depth ?? '–'}</td>
  <td>${d.progress ? `${d.progress.step}/${d.progress.localSteps} · loss ${d.progress.loss.toFixed(3)}` : '–'}</td>
  <td>${fmtBytes(d.bytesUp)}</td>
  <td>${d.joins}</td>
  <td>${escapeHtml(d.lastError ?? '')}</td>
</tr>`,
    )
    .join('\n');
  const roundRows = s.rounds
    .map(
      (r) =>
        `<tr data-round="${r.round}"><td>${r.round}</td><td>${pct(r.accuracy)}</td><td>${num(r.loss)}</td><td>${r.participants}</td><td>${r.groups}</td><td>${fmtBytes(r.bytesUp)}</td><td>${fmtBytes(r.bytesDown)}</td><td>${(r.durationMs / 1000).toFixed(1)} s</td></tr>`,
    )
    .join('\n');
  const points = s.rounds.filter((r) => r.accuracy !== null).map((r) => ({ round: r.round, accuracy: r.accuracy as number }));
  const refresh = st.state === 'finished' || st.state === 'failed' ? '' : `<meta http-equiv="refresh" content="${REFRESH_SECONDS}">`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
${refresh}<title>tabfleet · ${escapeHtml(st.state)} · round ${st.round}/${st.totalRounds}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1rem;color:#111}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;width:100%}td,th{border-bottom:1px solid #ddd;padding:.25rem .5rem;text-align:left;white-space:nowrap}
.muted{color:#777}svg{max-width:520px;width:100%;background:#fafafa}polyline{fill:none;stroke:#2563eb;stroke-width:2}circle{fill:#2563eb}
svg text{font-size:10px;fill:#555}.grid{stroke:#e5e5e5}.scroll{overflow-x:auto}code{background:#f3f3f3;padding:0 .25rem}
</style></head><body>
<h1>tabfleet coordinator</h1>
<p id="run-status">Run <code>${escapeHtml(st.runId)}</code> · strategy <b>${escapeHtml(st.strategy)}</b> · <b>${escapeHtml(st.state)}</b> · round ${st.round}/${st.totalRounds} · devices ${st.devicesJoined}/${st.devicesExpected} · last accuracy ${pct(st.lastAccuracy)}${st.message ? ` · <span class="muted">${escapeHtml(st.message)}</span>` : ''}</p>
<p>Devices join at <a href="${escapeHtml(deviceUrl)}">${escapeHtml(deviceUrl)}</a></p>
<h2>Accuracy per round</h2>
${accuracyChart(points)}
<h2>Rounds</h2>
<div class="scroll"><table id="rounds"><thead><tr><th>round</th><th>accuracy</th><th>loss</th><th>devices</th><th>groups</th><th>up</th><th>down</th><th>time</th></tr></thead><tbody>
${roundRows}
</tbody></table></div>
<h2>Devices (${s.devices.length})</h2>
<div class="scroll"><table id="devices"><thead><tr><th>device</th><th>state</th><th>backend</th><th>partition</th><th>samples</th><th>ms/step by depth</th><th>group / depth</th><th>progress</th><th>sent</th><th>joins</th><th>error</th></tr></thead><tbody>
${deviceRows}
</tbody></table></div>
</body></html>`;
}
