/** The dashboard's chart palette (one colour per series; past runs cycle through SERIES). */
export const COLORS = {
  primary: '#1d4ed8',
  secondary: '#d97706',
  muted: '#9ca3af',
  good: '#15803d',
} as const;

export const SERIES: readonly string[] = ['#7c3aed', '#0891b2', '#be185d', '#65a30d', '#ea580c', '#4b5563', '#0d9488', '#a16207'];

export function seriesColor(index: number): string {
  return SERIES[index % SERIES.length] as string;
}
