/**
 * The run's curves: global test accuracy and loss against round and against wall-clock time, bytes
 * up/down per round, with the past runs the user picked drawn dashed for comparison.
 */
import type { ChartData, ChartDataset, ChartOptions } from 'chart.js';
import { memo, useMemo } from 'react';
import type { RoundView, RunSummary, RunView } from '../../../src/dashboard/contract';
import { useChart } from '../charts/use-chart';
import { COLORS, seriesColor } from '../charts/colors';
import type { Point } from '../run-series';
import { byRound, byWallClock } from '../run-series';

interface RunChartsProps {
  readonly run: RunView | null;
  readonly rounds: readonly RoundView[];
  /** Past runs to overlay (already filtered to the ones picked). */
  readonly overlay: readonly RunSummary[];
}

const percentTicks = { callback: (v: string | number) => `${Math.round(Number(v) * 100)}%` };

const ROUND_OPTIONS: ChartOptions<'line'> = {
  parsing: false,
  plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
  scales: {
    x: { type: 'linear', title: { display: true, text: 'round' }, ticks: { stepSize: 1 } },
    y: { title: { display: true, text: 'accuracy' }, ticks: percentTicks, suggestedMin: 0 },
    y1: { position: 'right', title: { display: true, text: 'loss' }, grid: { drawOnChartArea: false }, suggestedMin: 0 },
  },
};

const TIME_OPTIONS: ChartOptions<'line'> = {
  parsing: false,
  plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
  scales: {
    x: { type: 'linear', title: { display: true, text: 'minutes since the run started' }, min: 0 },
    y: { title: { display: true, text: 'accuracy' }, ticks: percentTicks, suggestedMin: 0 },
    y1: { position: 'right', title: { display: true, text: 'loss' }, grid: { drawOnChartArea: false }, suggestedMin: 0 },
  },
};

const BYTES_OPTIONS: ChartOptions<'bar'> = {
  plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
  scales: {
    x: { title: { display: true, text: 'round' } },
    y: { beginAtZero: true, title: { display: true, text: 'MiB' } },
  },
};

function line(label: string, data: Point[], color: string, opts: Partial<ChartDataset<'line', Point[]>> = {}): ChartDataset<'line', Point[]> {
  return { label, data, borderColor: color, backgroundColor: color, pointRadius: 3, borderWidth: 2, ...opts };
}

function pastLabel(s: RunSummary): string {
  return `${s.run.strategy} ${new Date(s.run.createdAt).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })}`;
}

export const RunCharts = memo(function RunCharts({ run, rounds, overlay }: RunChartsProps) {
  const accuracyPoints = useMemo(() => byRound(rounds, 'accuracy'), [rounds]);
  const startedAt = run?.createdAt ?? 0;

  const roundData = useMemo<ChartData<'line', Point[]>>(
    () => ({
      datasets: [
        line('accuracy (this run)', accuracyPoints, COLORS.primary),
        line('loss (this run)', byRound(rounds, 'loss'), COLORS.secondary, { yAxisID: 'y1', borderWidth: 1.5, pointRadius: 2 }),
        ...overlay.map((s, i) => line(`accuracy, ${pastLabel(s)}`, byRound(s.rounds, 'accuracy'), seriesColor(i), { borderDash: [5, 4], pointRadius: 2 })),
      ],
    }),
    [accuracyPoints, rounds, overlay],
  );

  const timeData = useMemo<ChartData<'line', Point[]>>(
    () => ({
      datasets: [
        line('accuracy (this run)', byWallClock(rounds, 'accuracy', startedAt), COLORS.primary),
        line('loss (this run)', byWallClock(rounds, 'loss', startedAt), COLORS.secondary, { yAxisID: 'y1', borderWidth: 1.5, pointRadius: 2 }),
        ...overlay.map((s, i) =>
          line(`accuracy, ${pastLabel(s)}`, byWallClock(s.rounds, 'accuracy', s.run.createdAt), seriesColor(i), { borderDash: [5, 4], pointRadius: 2 }),
        ),
      ],
    }),
    [rounds, startedAt, overlay],
  );

  const bytesData = useMemo<ChartData<'bar'>>(() => {
    const sorted = [...rounds].filter((r) => r.round > 0).sort((a, b) => a.round - b.round);
    return {
      labels: sorted.map((r) => String(r.round)),
      datasets: [
        { label: 'up (devices → coordinator)', data: sorted.map((r) => r.bytesUp / 2 ** 20), backgroundColor: COLORS.primary },
        { label: 'down (coordinator → devices)', data: sorted.map((r) => r.bytesDown / 2 ** 20), backgroundColor: COLORS.muted },
      ],
    };
  }, [rounds]);

  const roundCanvas = useChart('line', roundData, ROUND_OPTIONS);
  const timeCanvas = useChart('line', timeData, TIME_OPTIONS);
  const bytesCanvas = useChart('bar', bytesData, BYTES_OPTIONS);

  return (
    <section className="card" aria-label="run charts">
      <h2>Global test accuracy and loss</h2>
      <div className="charts">
        <figure className="chart" data-testid="accuracy-chart" data-points={accuracyPoints.length} data-overlays={overlay.length}>
          <canvas ref={roundCanvas} role="img" aria-label={`accuracy by round: ${accuracyPoints.map((p) => `${p.x}: ${(p.y * 100).toFixed(1)}%`).join(', ')}`} />
        </figure>
        <figure className="chart" data-testid="accuracy-time-chart">
          <canvas ref={timeCanvas} role="img" aria-label="accuracy and loss against wall-clock time" />
        </figure>
        <figure className="chart" data-testid="bytes-chart">
          <canvas ref={bytesCanvas} role="img" aria-label="bytes up and down per round" />
        </figure>
      </div>
    </section>
  );
});
