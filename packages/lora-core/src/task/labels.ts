/** Label sets: inferring one from rows, and checking rows against one (the device page's own files). */
import type { LabeledText } from '../data/types';

/** Plain code-unit order, so every machine infers the same ids from the same rows. */
export function inferLabels(items: readonly LabeledText[]): string[] {
  return [...new Set(items.map((it) => it.label))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export interface LabelCheck {
  /** Rows whose label is in the set, in file order. */
  readonly known: LabeledText[];
  /** lines of the known rows when the caller gave them. */
  readonly knownLines: number[];
  /** Each label outside the set with its row count, in order of first appearance. */
  readonly unknown: ReadonlyArray<{ readonly label: string; readonly count: number }>;
  readonly unknownRows: number;
}

/** Splits rows into those whose label is in `classNames` and a count of the others; drops nothing silently. */
export function checkLabels(items: readonly LabeledText[], classNames: readonly string[], lines?: readonly number[]): LabelCheck {
  const allowed = new Set(classNames);
  const known: LabeledText[] = [];
  const knownLines: number[] = [];
  const unknown = new Map<string, number>();
  items.forEach((it, i) => {
    if (allowed.has(it.label)) {
      known.push(it);
      if (lines) knownLines.push(lines[i] as number);
    } else unknown.set(it.label, (unknown.get(it.label) ?? 0) + 1);
  });
  const list = [...unknown].map(([label, count]) => ({ label, count }));
  return { known, knownLines, unknown: list, unknownRows: list.reduce((s, u) => s + u.count, 0) };
}

/** One human line about the unknown labels of a check: `3 of 40 rows have labels outside … : "x" (2 rows), "y" (1 row)`. */
export function describeUnknownLabels(check: LabelCheck, classNames: readonly string[], maxListed = 20): string {
  const total = check.known.length + check.unknownRows;
  const listed = check.unknown.slice(0, maxListed).map((u) => `"${u.label}" (${u.count} ${u.count === 1 ? 'row' : 'rows'})`);
  if (check.unknown.length > maxListed) listed.push(`… and ${check.unknown.length - maxListed} more labels`);
  return (
    `${check.unknownRows} of ${total} rows have labels outside this task's label set [${classNames.join(', ')}]: ${listed.join(', ')}`
  );
}
