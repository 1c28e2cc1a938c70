/** Plain-text table for CLI output: first row is the header, columns padded to their widest cell. */
export function formatTable(rows: readonly (readonly string[])[], rightAlignFrom = 1): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (row: readonly string[]) =>
    row.map((cell, i) => (i >= rightAlignFrom ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  const [header, ...body] = rows;
  if (!header) return '';
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** A numeric CLI flag, with an error that names the flag. */
export function num(name: string, raw: string, integer = true): number {
  const v = Number(raw);
  if (!Number.isFinite(v) || (integer && !Number.isInteger(v))) throw new Error(`--${name} expects ${integer ? 'an integer' : 'a number'}, got "${raw}"`);
  return v;
}

export const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
export const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
