/**
 * The dashboard's device list as deltas: instead of every row on every push, the coordinator sends
 * `devicesPatch` messages — the rows added or changed and the ids removed since the previous patch —
 * with a full snapshot when a page connects or asks to resync. Each patch carries its sequence
 * number and the one it applies on (`base`; null for a snapshot), so a page that missed one sees the
 * gap and asks for a snapshot instead of showing a wrong list. Shared by the server and the React
 * page, so it imports nothing from Node.
 */
import { z } from 'zod';
import type { DeviceRowView } from './contract';

export interface DevicesPatch {
  /** This patch's number; the next one has base = seq. */
  readonly seq: number;
  /** The seq this patch applies on; null: a full snapshot (replace the whole list). */
  readonly base: number | null;
  /** Rows added or changed (whole rows), by deviceId. */
  readonly upserts: readonly DeviceRowView[];
  /** Device ids no longer listed. */
  readonly removed: readonly string[];
}

/** The device list a page holds: rows by id, and the seq of the last patch applied. */
export interface DeviceList {
  readonly seq: number;
  readonly rows: ReadonlyMap<string, DeviceRowView>;
}

/** Deep equality of JSON-like values (rows are plain data: strings, numbers, booleans, null, arrays, objects). */
function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => same(x, bb[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra).filter((k) => ra[k] !== undefined);
  const kb = Object.keys(rb).filter((k) => rb[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => same(ra[k], rb[k]));
}

/**
 * Server side, one per audience (admin, viewer): remembers the rows it last sent and turns the
 * current rows into the patch from those to these.
 */
export class DevicesPatcher {
  private rows = new Map<string, DeviceRowView>();
  private seq = 0;

  /** The patch from the rows last sent to `current`; undefined when nothing changed. */
  next(current: readonly DeviceRowView[]): DevicesPatch | undefined {
    const upserts: DeviceRowView[] = [];
    const seen = new Set<string>();
    for (const row of current) {
      seen.add(row.deviceId);
      const before = this.rows.get(row.deviceId);
      if (!before || !same(before, row)) upserts.push(row);
    }
    const removed: string[] = [];
    for (const id of this.rows.keys()) if (!seen.has(id)) removed.push(id);
    if (upserts.length === 0 && removed.length === 0) return undefined;
    for (const id of removed) this.rows.delete(id);
    for (const row of upserts) this.rows.set(row.deviceId, row);
    const base = this.seq;
    this.seq += 1;
    return { seq: this.seq, base, upserts, removed };
  }

  /** Everything last sent, as a snapshot at the current seq (a connecting or resyncing page). */
  snapshot(): DevicesPatch {
    return { seq: this.seq, base: null, upserts: [...this.rows.values()], removed: [] };
  }
}

export type ApplyResult = { readonly ok: true; readonly list: DeviceList } | { readonly ok: false; readonly reason: string };

/** Page side: `list` with `patch` applied, or why it cannot be (the page then asks for a snapshot). */
export function applyDevicesPatch(list: DeviceList | null, patch: DevicesPatch): ApplyResult {
  if (patch.base === null) return { ok: true, list: { seq: patch.seq, rows: new Map(patch.upserts.map((r) => [r.deviceId, r])) } };
  if (!list) return { ok: false, reason: `patch ${patch.seq} before any snapshot` };
  if (patch.base !== list.seq) return { ok: false, reason: `patch ${patch.seq} applies on ${patch.base}, the page holds ${list.seq}` };
  const rows = new Map(list.rows);
  for (const id of patch.removed) rows.delete(id);
  for (const row of patch.upserts) rows.set(row.deviceId, row);
  return { ok: true, list: { seq: patch.seq, rows } };
}

/** The rows in the order the dashboard lists them (by device id). */
export function sortedRows(list: DeviceList): DeviceRowView[] {
  return [...list.rows.values()].sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
}

/**
 * The shape a page checks before applying a patch: numbers and ids where they must be, rows as
 * objects with a deviceId (their fields are the server's, shown as they are).
 */
const devicesPatchSchema = z.object({
  seq: z.number().int().nonnegative(),
  base: z.number().int().nonnegative().nullable(),
  upserts: z.array(z.looseObject({ deviceId: z.string().min(1) })),
  removed: z.array(z.string()),
});

/** `raw` as a patch when it has the patch's shape (rows are taken as the server sent them); else undefined. */
export function parseDevicesPatch(raw: unknown): DevicesPatch | undefined {
  const parsed = devicesPatchSchema.safeParse(raw);
  if (!parsed.success) return undefined;
  if (parsed.data.base !== null && parsed.data.seq !== parsed.data.base + 1) return undefined;
  return parsed.data as unknown as DevicesPatch;
}
