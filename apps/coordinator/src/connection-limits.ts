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
  /** Open connections from one client address; further ones are closed at once. */
  readonly maxConnectionsPerAddress: number;
  /** Open connections in total. */
  readonly maxConnections: number;
  /** Distinct devices one address may speak for at once (sybil limit). */
  readonly maxDevicesPerAddress: number;
  /** New device hellos (a device id on a new connection) per minute from one address, with that many at once. */
  readonly maxJoinsPerMinute: number;
  /**
   * Reverse proxies (their socket addresses) whose X-Forwarded-For is believed (--trust-proxy).
   * Empty: every limit keys on the socket's address, whatever headers say.
   */
  readonly trustedProxies: readonly string[];
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  burst: 40,
  perSecond: 20,
  maxStrikes: 30,
  strikeWindowMs: 60_000,
  // A page says hello as soon as its socket connects; 20 s leaves room for a slow page's event
  // loop while keeping silent sockets (the cheapest way to hold server memory) short-lived.
  helloTimeoutMs: 20_000,
  maxConnectionsPerAddress: 64,
  maxConnections: 10_000,
  maxDevicesPerAddress: 32,
  maxJoinsPerMinute: 120,
  trustedProxies: [],
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

/** The address a connection comes from, with IPv4-mapped IPv6 written as IPv4. */
export function clientAddress(raw: string | undefined): string {
  const a = raw ?? 'unknown';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice('::ffff:'.length) : a;
}

/**
 * The address per-address limits key on. From a listed reverse proxy, the client its
 * X-Forwarded-For names: the rightmost entry that is not itself a listed proxy (entries left of it
 * were written by the client and prove nothing). From any other peer, X-Forwarded-For is ignored
 * (anyone can send one), and the socket address is used.
 */
export function requestAddress(socketAddress: string | undefined, forwardedFor: string | readonly string[] | undefined, trustedProxies: readonly string[]): string {
  const peer = clientAddress(socketAddress);
  if (trustedProxies.length === 0 || forwardedFor === undefined) return peer;
  const trusted = new Set(trustedProxies.map(clientAddress));
  if (!trusted.has(peer)) return peer;
  const hops = (typeof forwardedFor === 'string' ? [forwardedFor] : forwardedFor)
    .flatMap((h) => h.split(','))
    .map((h) => clientAddress(h.trim()))
    .filter((h) => h.length > 0);
  for (let i = hops.length - 1; i >= 0; i--) if (!trusted.has(hops[i]!)) return hops[i]!;
  return hops[0] ?? peer;
}

export type AddressRefusal = { readonly ok: true } | { readonly ok: false; readonly message: string };

/**
 * Limits across the connections of one client address, and in total: open connections, devices
 * spoken for at once, and the rate of new device hellos. The join token is in every device URL and
 * QR code, so it keeps out strangers only; these bound what one holder of it can open.
 */
export class AddressLimits {
  private readonly connections = new Map<string, number>();
  private total = 0;
  /** Address → device id → number of its connections that said hello as it. */
  private readonly devices = new Map<string, Map<string, number>>();
  private readonly joinBuckets = new Map<string, TokenBucket>();

  constructor(private readonly limits: ConnectionLimits) {}

  /** A connection opened; refused (not counted) over the per-address or total cap. */
  open(address: string): AddressRefusal {
    const n = this.connections.get(address) ?? 0;
    if (this.total >= this.limits.maxConnections) return { ok: false, message: `the coordinator holds its maximum of ${this.limits.maxConnections} connections` };
    if (n >= this.limits.maxConnectionsPerAddress) {
      return { ok: false, message: `address ${address} has ${n} open connections, the most one address may hold` };
    }
    this.connections.set(address, n + 1);
    this.total += 1;
    return { ok: true };
  }

  /** A connection that open() admitted closed. */
  close(address: string): void {
    const n = this.connections.get(address) ?? 0;
    if (n <= 1) this.connections.delete(address);
    else this.connections.set(address, n - 1);
    this.total = Math.max(0, this.total - 1);
  }

  /** A connection asks to speak for `deviceId`; refused over the device cap or the hello rate. Counted when admitted. */
  hello(address: string, deviceId: string, now: number): AddressRefusal {
    const devices = this.devices.get(address) ?? new Map<string, number>();
    if (!devices.has(deviceId) && devices.size >= this.limits.maxDevicesPerAddress) {
      return { ok: false, message: `address ${address} already speaks for ${devices.size} devices, the most one address may (--max-devices-per-address)` };
    }
    let bucket = this.joinBuckets.get(address);
    if (!bucket) {
      bucket = new TokenBucket(this.limits.maxJoinsPerMinute, this.limits.maxJoinsPerMinute / 60, now);
      this.joinBuckets.set(address, bucket);
    }
    if (!bucket.take(now)) {
      return { ok: false, message: `address ${address} said hello as a device more than ${this.limits.maxJoinsPerMinute} times a minute (--max-joins-per-minute)` };
    }
    devices.set(deviceId, (devices.get(deviceId) ?? 0) + 1);
    this.devices.set(address, devices);
    return { ok: true };
  }

  /** A connection admitted by hello() no longer speaks for `deviceId`. */
  release(address: string, deviceId: string): void {
    const devices = this.devices.get(address);
    const n = devices?.get(deviceId);
    if (!devices || n === undefined) return;
    if (n <= 1) devices.delete(deviceId);
    else devices.set(deviceId, n - 1);
    if (devices.size === 0) this.devices.delete(address);
  }

  devicesOf(address: string): number {
    return this.devices.get(address)?.size ?? 0;
  }

  connectionsOf(address: string): number {
    return this.connections.get(address) ?? 0;
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
    if (name === 'trustedProxies') continue;
    if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) throw new Error(`connection limit ${name} must be a positive number, got ${value}`);
  }
  return limits;
}
