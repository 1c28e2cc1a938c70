/**
 * Structural sharing between two pushed states: every part of `next` that deep-equals the same part
 * of `prev` is replaced by prev's object, so memoized panels and charts skip the parts that did not
 * change (a push carries the whole state, usually with only device progress changed).
 */
export function shareUnchanged<T>(prev: T, next: T): T {
  if (Object.is(prev, next)) return prev;
  if (typeof prev !== 'object' || typeof next !== 'object' || prev === null || next === null) return next;
  if (Array.isArray(prev) !== Array.isArray(next)) return next;

  if (Array.isArray(prev) && Array.isArray(next)) {
    let same = prev.length === next.length;
    const out = next.map((item: unknown, i: number) => {
      const shared = i < prev.length ? shareUnchanged(prev[i] as unknown, item) : item;
      if (shared !== prev[i]) same = false;
      return shared;
    });
    return (same ? prev : out) as T;
  }

  const p = prev as Record<string, unknown>;
  const n = next as Record<string, unknown>;
  const keys = Object.keys(n);
  let same = keys.length === Object.keys(p).length;
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const shared = Object.hasOwn(p, key) ? shareUnchanged(p[key], n[key]) : n[key];
    if (shared !== p[key] || !Object.hasOwn(p, key)) same = false;
    out[key] = shared;
  }
  return (same ? prev : out) as T;
}
