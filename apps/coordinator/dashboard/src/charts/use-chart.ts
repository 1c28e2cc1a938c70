/**
 * One Chart.js chart bound to a canvas: created on mount, then updated in place (no animation) when
 * its data or options change, destroyed on unmount.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
} from 'chart.js';
import type { ChartData, ChartOptions, ChartType } from 'chart.js';
import { useEffect, useRef } from 'react';
import type { RefObject } from 'react';

Chart.register(BarController, BarElement, CategoryScale, Filler, Legend, LinearScale, LineController, LineElement, PointElement, ScatterController, Tooltip);
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.font.size = 11;

export function useChart<T extends ChartType>(type: T, data: ChartData<T>, options: ChartOptions<T>): RefObject<HTMLCanvasElement> {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const chartRef = useRef<Chart<T> | null>(null);

  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas) return undefined;
    const chart = new Chart<T>(canvas, { type, data, options });
    chartRef.current = chart;
    return () => {
      chart.destroy();
      chartRef.current = null;
    };
    // Created once per chart type; later data and options are applied by the effect below.
  }, [type]);

  useEffect(() => {
    const chart = chartRef.current;
    if (!chart) return;
    if (chart.data !== data) chart.data = data;
    if (chart.options !== options) chart.options = options;
    chart.update('none');
  }, [data, options]);

  return canvasRef;
}
