/**
 * Per-connection limits the gateway applies before it reads a message: a message-rate token bucket
 * and a count of refused messages in a sliding window. A device page sends a handful of messages
 * per round (hello, join, one progress per local step, one upload), so the defaults leave it far
 * from both limits; a socket that floods or keeps sending garbage is answered, then closed.
 */

export interface ConnectionLimits {
  /** Messages a socket may send at once (bucket capacity). */
  readonly burst: number;
  /** Sustained messages per second (bucket refill). */
  readonly perSecond: number;
  /**
   * Refused messages (invalid, out of turn, over the rate) tolerated within `strikeWindowMs`;
   * the next one closes the connection with 'too-many-errors'.
   */
  readonly maxStrikes: number;
  readonly strikeWindowMs: number;
  /**
   * A socket without an accepted hello this long after connecting is closed. As long as the
   * server's pingTimeout: a slow page's training step can hold its event loop that long.
   */
  readonly helloTimeoutMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  burst: 40,
  perSecond: 20,
  maxStrikes: 30,
  strikeWindowMs: 60_000,
  helloTimeoutMs: 60_000,
};

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly capacity: number,
    private readonly perSecond: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
  }

  /** Takes one token; false when the bucket is empty (the message is over the rate). */
  take(now: number): boolean {
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = Math.max(this.last, now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Refusals within a sliding window; `add` says when the connection has had too many. */
export class StrikeCounter {
  private readonly at: number[] = [];

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  /** Records a refusal; true once more than `max` fall inside the window. */
  add(now: number): boolean {
    this.at.push(now);
    while (this.at.length > 0 && this.at[0]! <= now - this.windowMs) this.at.shift();
    return this.at.length > this.max;
  }

  get count(): number {
    return this.at.length;
  }
}

/** The limits of one socket. */
export class ConnectionGuard {
  private readonly bucket: TokenBucket;
  private readonly strikes: StrikeCounter;

  constructor(
    readonly limits: ConnectionLimits,
    now: number,
  ) {
    this.bucket = new TokenBucket(limits.burst, limits.perSecond, now);
    this.strikes = new StrikeCounter(limits.maxStrikes, limits.strikeWindowMs);
  }

  /** False when this message is over the rate and must be dropped. */
  admit(now: number): boolean {
    return this.bucket.take(now);
  }

  /** Records a refused message; true when the connection must now be closed. */
  strike(now: number): boolean {
    return this.strikes.add(now);
  }
}

export function connectionLimits(overrides: Partial<ConnectionLimits> = {}): ConnectionLimits {
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!(Number.isFinite(value) && value > 0)) throw new Error(`connection limit ${name} must be a positive number, got ${value}`);
  }
  return limits;
}
