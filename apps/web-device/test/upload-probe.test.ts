import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_UPLOAD_BYTES_PER_SEC, measureUploadBytesPerSec, retryWaitMs } from '../src/profile';

/** A fetch that answers with the given statuses in turn (the last one repeats), recording each call. */
function answering(statuses: number[], retryAfter: string | null = null) {
  const calls: string[] = [];
  const fetch = (async (url: string) => {
    calls.push(url);
    const status = statuses[Math.min(calls.length - 1, statuses.length - 1)]!;
    return new Response(status === 200 ? '{"bytes":262144}' : 'over 30 bandwidth probes a minute', {
      status,
      headers: retryAfter === null ? {} : { 'Retry-After': retryAfter },
    });
  }) as unknown as typeof globalThis.fetch;
  return { fetch, calls };
}

describe('upload bandwidth probe', () => {
  it('measures on a 200', async () => {
    const { fetch, calls } = answering([200]);
    const m = await measureUploadBytesPerSec({ fetch, sleep: async () => {} });
    assert.equal(calls.length, 1);
    assert.equal(m.note, undefined);
    assert.ok(m.bytesPerSec > 0 && Number.isFinite(m.bytesPerSec));
  });

  it('retries a 429 with backoff and measures once the limit lets it through', async () => {
    const { fetch, calls } = answering([429, 429, 200], '60');
    const waits: number[] = [];
    const m = await measureUploadBytesPerSec({ fetch, sleep: async (ms) => void waits.push(ms) });
    assert.equal(calls.length, 3);
    assert.deepEqual(waits, [8000, 8000], 'Retry-After 60 s is capped so a joining page does not sit a minute');
    assert.equal(m.note, undefined);
  });

  it('falls back to the default profile value with a note when the 429s keep coming', async () => {
    const { fetch, calls } = answering([429]);
    const m = await measureUploadBytesPerSec({ fetch, sleep: async () => {} });
    assert.equal(calls.length, 3);
    assert.equal(m.bytesPerSec, DEFAULT_UPLOAD_BYTES_PER_SEC);
    assert.match(m.note ?? '', /probe answered HTTP 429; planning with a default of 1 MB\/s/);
  });

  it('does not retry other errors, and a network failure is a note too, not a failure', async () => {
    const { fetch, calls } = answering([500]);
    assert.match((await measureUploadBytesPerSec({ fetch, sleep: async () => {} })).note ?? '', /HTTP 500/);
    assert.equal(calls.length, 1);
    const broken = (async () => {
      throw new TypeError('Failed to fetch');
    }) as unknown as typeof globalThis.fetch;
    const m = await measureUploadBytesPerSec({ fetch: broken, sleep: async () => {} });
    assert.equal(m.bytesPerSec, DEFAULT_UPLOAD_BYTES_PER_SEC);
    assert.match(m.note ?? '', /failed \(Failed to fetch\)/);
  });

  it('waits Retry-After seconds when given, else 1 s, 2 s, … capped at 8 s', () => {
    assert.equal(retryWaitMs('3', 1), 3000);
    assert.equal(retryWaitMs(null, 1), 1000);
    assert.equal(retryWaitMs(null, 2), 2000);
    assert.equal(retryWaitMs('Wed, 21 Oct 2015 07:28:00 GMT', 3), 4000);
    assert.equal(retryWaitMs('600', 1), 8000);
  });
});
