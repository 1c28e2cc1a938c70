/**
 * Admits uploads a bounded number of bytes at a time. A device that finished its local steps
 * offers its upload (`uploadOffer`, a few bytes) and sends it only when granted (`uploadGrant`).
 * Without it, a fleet whose devices finish together sends everything at once: 10,000 uploads of
 * ~300 KiB were already in the kernel's socket buffers, and the event loop read and handled all
 * 18,000 of them in one poll phase (a 28–34 s stall: no timer, no ping, no status in between).
 * With the gate, what the loop can find waiting is at most `maxBytesInFlight` of uploads plus the
 * offers themselves.
 *
 * Grants go out in offer order while the bytes granted and not yet received fit the window (one
 * upload always fits, however large). A grant is held until its upload arrives, the device's work
 * ends (cancel), or `grantTimeoutMs` passes (a device that went quiet does not hold the window).
 */

export interface UploadGateOptions {
  /** Bytes of granted uploads that may be on their way at once (default 8 MiB). */
  readonly maxBytesInFlight?: number;
  /** A grant whose upload has not arrived after this long stops counting (default 30 s). */
  readonly grantTimeoutMs?: number;
}

export const DEFAULT_MAX_UPLOAD_BYTES_IN_FLIGHT = 8 * 1024 * 1024;
export const DEFAULT_GRANT_TIMEOUT_MS = 30_000;

interface Offer {
  readonly bytes: number;
  readonly grant: () => void;
}

interface Grant {
  readonly bytes: number;
  readonly timer: ReturnType<typeof setTimeout>;
}

export class UploadGate {
  private readonly maxBytes: number;
  private readonly timeoutMs: number;
  /** Device id → offer waiting for room, in offer order (a newer offer replaces and requeues). */
  private readonly waiting = new Map<string, Offer>();
  private readonly granted = new Map<string, Grant>();
  private bytesInFlight = 0;

  constructor(opts: UploadGateOptions = {}) {
    this.maxBytes = opts.maxBytesInFlight ?? DEFAULT_MAX_UPLOAD_BYTES_IN_FLIGHT;
    this.timeoutMs = opts.grantTimeoutMs ?? DEFAULT_GRANT_TIMEOUT_MS;
    if (!(this.maxBytes > 0)) throw new RangeError(`maxBytesInFlight must be positive, got ${this.maxBytes}`);
    if (!(this.timeoutMs > 0)) throw new RangeError(`grantTimeoutMs must be positive, got ${this.timeoutMs}`);
  }

  /** Bytes granted whose uploads have not arrived. */
  get inFlightBytes(): number {
    return this.bytesInFlight;
  }

  /** Offers waiting for room. */
  get queued(): number {
    return this.waiting.size;
  }

  /**
   * The device will upload `bytes`: `grant` runs now when the window has room and no earlier offer
   * waits, else when room frees. A device offering again (it reconnected) gives up its earlier
   * grant or place.
   */
  offer(deviceId: string, bytes: number, grant: () => void): void {
    this.release(deviceId);
    this.waiting.delete(deviceId);
    this.waiting.set(deviceId, { bytes, grant });
    this.pump();
  }

  /** The device's upload arrived (accepted or refused): its grant's bytes are free. */
  received(deviceId: string): void {
    if (this.release(deviceId)) this.pump();
  }

  /** The device's work ended another way (timed out, dropped, left): its grant or offer goes. */
  cancel(deviceId: string): void {
    const had = this.release(deviceId);
    this.waiting.delete(deviceId);
    if (had) this.pump();
  }

  /** Drops every offer and grant (the run stopped). */
  clear(): void {
    for (const g of this.granted.values()) clearTimeout(g.timer);
    this.granted.clear();
    this.waiting.clear();
    this.bytesInFlight = 0;
  }

  private release(deviceId: string): boolean {
    const g = this.granted.get(deviceId);
    if (!g) return false;
    clearTimeout(g.timer);
    this.granted.delete(deviceId);
    this.bytesInFlight -= g.bytes;
    return true;
  }

  private pump(): void {
    for (const [deviceId, offer] of this.waiting) {
      if (this.bytesInFlight > 0 && this.bytesInFlight + offer.bytes > this.maxBytes) return;
      this.waiting.delete(deviceId);
      const timer = setTimeout(() => this.received(deviceId), this.timeoutMs);
      timer.unref?.();
      this.granted.set(deviceId, { bytes: offer.bytes, timer });
      this.bytesInFlight += offer.bytes;
      offer.grant();
    }
  }
}
