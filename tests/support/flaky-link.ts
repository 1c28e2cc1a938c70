/**
 * A TCP link between tabs and the coordinator that can fail: everything one tab sends (page,
 * model files, websocket) goes through it, and `drop(ms)` cuts every open connection and refuses
 * new ones for `ms` — a phone losing its network, seen from both ends exactly as the real thing.
 */
import { createServer, connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

export interface FlakyLink {
  /** http://127.0.0.1:PORT, to open the device page through the link. */
  readonly url: string;
  /** Connections cut so far. */
  readonly cut: number;
  drop(ms: number): void;
  close(): Promise<void>;
}

export async function openFlakyLink(target: string): Promise<FlakyLink> {
  const { hostname, port } = new URL(target);
  const open = new Set<Socket>();
  let downUntil = 0;
  let cut = 0;
  const server = createServer((client) => {
    if (Date.now() < downUntil) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(port), hostname);
    open.add(client);
    client.pipe(upstream);
    upstream.pipe(client);
    const cutBoth = () => {
      open.delete(client);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', cutBoth);
      s.on('close', cutBoth);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get cut() {
      return cut;
    },
    drop(ms) {
      downUntil = Date.now() + ms;
      for (const s of open) {
        cut += 1;
        s.destroy();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
