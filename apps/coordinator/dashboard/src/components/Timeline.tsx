/**
 * The round timeline: one row per group with a point at each intra-group aggregation, and a
 * "global" row with a point at each completed global round, against seconds since the run began.
 */
import type { ChartData, ChartOptions, TooltipItem } from 'chart.js';
import { memo, useMemo } from 'react';
import type { RoundView, TimelineEvent } from '../../../src/dashboard/contract';
import { useChart } from '../charts/use-chart';
import { COLORS, seriesColor } from '../charts/colors';

interface TimelineProps {
  readonly startedAt: number;
  readonly events: readonly TimelineEvent[];
  readonly rounds: readonly RoundView[];
}

const GLOBAL_ROW = 'global';

interface TimelinePoint {
  x: number;
  y: string;
  label: string;
}

export const Timeline = memo(function Timeline({ startedAt, events, rounds }: TimelineProps) {
  const groupIds = useMemo(() => [...new Set(events.map((e) => e.groupId))].sort((a, b) => a.localeCompare(b, undefined, { numeric: true })), [events]);

  const data = useMemo<ChartData<'scatter', TimelinePoint[]>>(() => {
    const seconds = (at: number) => (at - startedAt) / 1000;
    return {
      datasets: [
        {
          label: 'global round',
          data: rounds
            .filter((r) => r.round > 0)
            .map((r) => ({ x: seconds(r.finishedAt), y: GLOBAL_ROW, label: `round ${r.round}: ${r.participants} devices in ${r.groups} groups` })),
          backgroundColor: COLORS.good,
          pointStyle: 'rectRot',
          pointRadius: 6,
        },
        ...groupIds.map((groupId, i) => ({
          label: groupId,
          data: events
            .filter((e) => e.groupId === groupId)
            .map((e) => ({ x: seconds(e.at), y: groupId, label: `round ${e.round}.${e.intraRound}: ${e.contributors}/${e.planned} devices reported` })),
          backgroundColor: seriesColor(i),
          pointRadius: 4,
        })),
      ],
    };
  }, [events, rounds, groupIds, startedAt]);

  const options = useMemo<ChartOptions<'scatter'>>(
    () => ({
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (item: TooltipItem<'scatter'>) => `${(item.raw as TimelinePoint).y} · ${(item.raw as TimelinePoint).label}` } },
      },
      scales: {
        x: { type: 'linear', min: 0, title: { display: true, text: 'seconds since the run started' } },
        y: { type: 'category', labels: [GLOBAL_ROW, ...groupIds], offset: true },
      },
    }),
    [groupIds],
  );

  const canvasRef = useChart('scatter', data as unknown as ChartData<'scatter'>, options);
  const height = 60 + 26 * (groupIds.length + 1);
  return (
    <section className="card" aria-label="round timeline">
      <h2>
        Timeline <span className="muted">(when each group aggregated)</span>
      </h2>
      <div className="chart" style={{ height }} data-testid="timeline-chart" data-events={events.length}>
        <canvas ref={canvasRef} role="img" aria-label={`${events.length} group aggregations, ${rounds.filter((r) => r.round > 0).length} global rounds`} />
      </div>
    </section>
  );
});
