/** A group's pooled label distribution against the global one, as a small grouped bar chart. */
import type { ChartData, ChartOptions } from 'chart.js';
import { memo, useMemo } from 'react';
import { useChart } from '../charts/use-chart';
import { COLORS } from '../charts/colors';

interface LabelBarsProps {
  readonly classNames: readonly string[];
  readonly group: readonly number[];
  readonly global: readonly number[];
}

const OPTIONS: ChartOptions<'bar'> = {
  plugins: { legend: { display: false }, tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${((item.raw as number) * 100).toFixed(1)} %` } } },
  scales: {
    x: { ticks: { display: false }, grid: { display: false } },
    y: { beginAtZero: true, ticks: { maxTicksLimit: 3, callback: (v) => `${Math.round(Number(v) * 100)}%` } },
  },
};

export const LabelBars = memo(function LabelBars({ classNames, group, global }: LabelBarsProps) {
  const data = useMemo<ChartData<'bar'>>(
    () => ({
      labels: classNames.map((name, i) => name || `class ${i}`),
      datasets: [
        { label: 'group', data: [...group], backgroundColor: COLORS.primary, barPercentage: 0.9, categoryPercentage: 0.9 },
        { label: 'global', data: [...global], backgroundColor: COLORS.muted, barPercentage: 0.9, categoryPercentage: 0.9 },
      ],
    }),
    [classNames, group, global],
  );
  const canvasRef = useChart('bar', data, OPTIONS);
  return (
    <div className="chart small" data-testid="label-bars" data-bars={group.length}>
      <canvas ref={canvasRef} role="img" aria-label="label distribution of the group (blue) against the global one (grey)" />
    </div>
  );
});
