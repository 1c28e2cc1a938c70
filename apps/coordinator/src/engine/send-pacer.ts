/**
 * Paces the round's work sends. A round hands every member its work in one tick (each group's
 * members, then each intra-group round, start together), and each send writes the encoded adapter
 * (hundreds of KiB) to a socket: 10,000 of them in one tick held the event loop long enough for
 * devices to miss Socket.IO's ping timeout. Sends go out at once while the current batch has room
 * (a small fleet sees no change); past `maxBytesPerBatch` or `maxSendsPerBatch` they queue, in
 * order, and each following batch runs on its own setImmediate, so I/O (uploads, pings) is served
 * between batches.
 */

export interface SendPacerOptions {
  /** Bytes one batch may send before the rest waits for the next turn of the event loop (default 8 MiB). */
  readonly maxBytesPerBatch?: number;
  /** Sends one batch may make, whatever their size (default 64). */
  readonly maxSendsPerBatch?: number;
  /** Runs the next batch (default setImmediate). */
  readonly schedule?: (fn: () => void) => void;
}

export const DEFAULT_MAX_BYTES_PER_BATCH = 8 * 1024 * 1024;
export const DEFAULT_MAX_SENDS_PER_BATCH = 64;

export class SendPacer {
  private readonly maxBytes: number;
  private readonly maxSends: number;
  private readonly schedule: (fn: () => void) => void;
  /** Key → send waiting for a batch; a newer send for the same key replaces it (and goes to the back). */
  private readonly queue = new Map<string, { readonly bytes: number; readonly send: () => void }>();
  private bytes = 0;
  private sends = 0;
  /** A turn is scheduled: it resets the batch and runs the queue. */
  private scheduled = false;

  constructor(opts: SendPacerOptions = {}) {
    this.maxBytes = opts.maxBytesPerBatch ?? DEFAULT_MAX_BYTES_PER_BATCH;
    this.maxSends = opts.maxSendsPerBatch ?? DEFAULT_MAX_SENDS_PER_BATCH;
    this.schedule = opts.schedule ?? setImmediate;
  }

  /** Sends waiting for a later batch. */
  get queued(): number {
    return this.queue.size;
  }

  /** Runs `send` now if the batch has room (and nothing waits before it), else in a later batch. */
  submit(key: string, bytes: number, send: () => void): void {
    if (this.queue.size === 0 && this.hasRoom()) {
      this.take(bytes);
      send();
      return;
    }
    this.queue.delete(key);
    this.queue.set(key, { bytes, send });
    this.turn();
  }

  /** Drops every waiting send. */
  clear(): void {
    this.queue.clear();
  }

  private hasRoom(): boolean {
    // The first send of a batch always goes, however large.
    return this.sends === 0 || (this.sends < this.maxSends && this.bytes < this.maxBytes);
  }

  private take(bytes: number): void {
    this.sends += 1;
    this.bytes += bytes;
    this.turn();
  }

  /** Schedules the end of this batch: the next turn starts a fresh one and runs what waits. */
  private turn(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => {
      this.scheduled = false;
      this.sends = 0;
      this.bytes = 0;
      for (const [key, entry] of this.queue) {
        if (!this.hasRoom()) break;
        this.queue.delete(key);
        this.take(entry.bytes);
        entry.send();
      }
    });
  }
}
