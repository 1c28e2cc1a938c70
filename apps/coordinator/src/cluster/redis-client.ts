/**
 * Redis connections of one node (the `redis` client, v4: the one @socket.io/redis-adapter is
 * tested with). They reconnect by themselves after Redis restarts (backoff up to 2 s); commands
 * issued meanwhile wait in the client's offline queue. `onReady` fires on every (re)connection,
 * so the node can write back what a restarted, empty Redis lost.
 */
import { commandOptions, createClient } from 'redis';

export type RedisClient = ReturnType<typeof createClient>;

export interface RedisConnections {
  /** Commands. */
  readonly cmd: RedisClient;
  /** The Socket.IO adapter's publisher and subscriber. */
  readonly pub: RedisClient;
  readonly sub: RedisClient;
  getBuffer(key: string): Promise<Buffer | null>;
  onReady(listener: () => void): void;
  close(): Promise<void>;
}

export async function connectRedis(url: string, log: (line: string) => void): Promise<RedisConnections> {
  if (!/^rediss?:\/\//.test(url)) throw new Error(`--redis ${url}: expected a redis:// or rediss:// URL`);
  const readyListeners: Array<() => void> = [];
  const make = (role: string) => {
    const client = createClient({ url, socket: { reconnectStrategy: (retries) => Math.min(100 * 2 ** Math.min(retries, 5), 2000), connectTimeout: 5000 } });
    let down = false;
    client.on('error', (err: Error) => {
      if (!down) log(`redis (${role}): ${err.message}; reconnecting`);
      down = true;
    });
    client.on('ready', () => {
      if (down) log(`redis (${role}): reconnected`);
      down = false;
      if (role === 'cmd') for (const l of readyListeners) l();
    });
    return client;
  };
  const cmd = make('cmd');
  const pub = make('pub');
  const sub = make('sub');
  const first = Promise.all([cmd.connect(), pub.connect(), sub.connect()]);
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`--redis ${url}: no connection within 10 s`)), 10_000).unref());
  try {
    await Promise.race([first, timeout]);
  } catch (err) {
    await Promise.allSettled([cmd.disconnect(), pub.disconnect(), sub.disconnect()]);
    throw err;
  }
  return {
    cmd,
    pub,
    sub,
    getBuffer: (key) => cmd.get(commandOptions({ returnBuffers: true }), key),
    onReady: (l) => readyListeners.push(l),
    async close() {
      await Promise.allSettled([cmd.quit(), pub.quit(), sub.quit()]);
    },
  };
}
