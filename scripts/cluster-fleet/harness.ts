/**
 * Starts the parts of a loopback cluster as child processes: a private Redis (Debian's
 * redis-server: no persistence, killed at the end), coordinator nodes (node.ts) and simulated
 * device processes (devices.ts). Shared by the multi-node test and `bench:coordinator --nodes`.
 */
import { fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { findRedisServer } from '../bootstrap.mjs';
import type { DevicesReport, DevicesSettings } from './devices';
import type { NodeSettings, NodeStats } from './node';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

function redisServerBinary(): string {
  const found = findRedisServer();
  if (!found) throw new Error('redis-server not found: `node scripts/bootstrap.mjs --redis` installs Debian\'s (or set REDIS_SERVER)');
  return found;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface RedisProcess {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  /** Kills it and starts a fresh, empty one on the same port (the "Redis restarted" fault). */
  restart(): Promise<void>;
}

export async function startRedis(): Promise<RedisProcess> {
  const bin = redisServerBinary();
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const launch = async () => {
    proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
    // Ready once it accepts connections.
    const { createConnection } = await import('node:net');
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const c = createConnection({ port, host: '127.0.0.1' }, () => {
          c.end();
          resolve(true);
        });
        c.once('error', () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server did not start on port ${port}`);
  };
  const kill = async () => {
    const p = proc;
    // A process killed by a signal has exitCode null and signalCode set: it is gone too.
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: kill,
    async restart() {
      await kill();
      await launch();
    },
  };
}

export interface NodeProcess {
  readonly url: string;
  readonly nodeId: string;
  readonly proc: ChildProcess;
  /** Output lines so far. */
  readonly lines: string[];
  /** Resolves with the run's end status the node reports. */
  readonly done: Promise<{ status: string; leader: boolean }>;
  latestStats(): NodeStats | undefined;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startNode(settings: NodeSettings, echo = false): Promise<NodeProcess> {
  // BENCH_NODE_CPU_PROF=DIR: each node writes a V8 CPU profile there when it exits (--cpu-prof is not allowed in NODE_OPTIONS).
  const prof = process.env.BENCH_NODE_CPU_PROF;
  const execArgv = ['--import', 'tsx', ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [])];
  const proc = fork(here('./node.ts'), [JSON.stringify(settings)], { execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const lines: string[] = [];
  let stats: ReturnType<NodeProcess['latestStats']>;
  let onReady: (v: { url: string; nodeId: string }) => void = () => {};
  let onDone: (v: { status: string; leader: boolean }) => void = () => {};
  const ready = new Promise<{ url: string; nodeId: string }>((resolve, reject) => {
    onReady = resolve;
    proc.once('exit', (code) => reject(new Error(`node ${settings.nodeId ?? ''} exited (${code}) before it was ready:\n${lines.slice(-20).join('\n')}`)));
  });
  // A node killed before its run ended resolves with status 'killed'.
  const done = new Promise<{ status: string; leader: boolean }>((resolve) => {
    onDone = resolve;
    proc.once('exit', () => resolve({ status: 'killed', leader: false }));
  });
  let buf = '';
  const onData = (chunk: Buffer) => {
    buf += chunk.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('NODE_STATS ')) {
        stats = JSON.parse(line.slice(11));
        continue;
      }
      lines.push(line);
      if (echo) console.log(line);
      if (line.startsWith('NODE_READY ')) onReady(JSON.parse(line.slice(11)));
      if (line.startsWith('NODE_DONE ')) onDone(JSON.parse(line.slice(10)));
    }
  };
  proc.on('message', (m: { type?: string; stats?: NodeStats }) => {
    if (m.type === 'NODE_STATS' && m.stats) stats = m.stats;
  });
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const { url, nodeId } = await ready;
  return {
    url,
    nodeId,
    proc,
    lines,
    done,
    latestStats: () => stats,
    async kill(signal = 'SIGKILL') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill(signal);
      });
    },
  };
}

export interface DevicesProcess {
  latest(): DevicesReport | undefined;
  /** Resolves once `n` devices joined (or rejects after `timeoutMs`). */
  waitJoined(n: number, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export function startDevices(settings: DevicesSettings): DevicesProcess {
  const proc = fork(here('./devices.ts'), [JSON.stringify(settings)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let latest: DevicesReport | undefined;
  proc.on('message', (m: DevicesReport) => {
    latest = m;
  });
  return {
    latest: () => latest,
    async waitJoined(n, timeoutMs) {
      const until = Date.now() + timeoutMs;
      while ((latest?.joined ?? 0) < n) {
        if (Date.now() > until) throw new Error(`only ${latest?.joined ?? 0}/${n} devices joined within ${timeoutMs} ms (${latest?.firstError ?? ''})`);
        if (proc.exitCode !== null) throw new Error('the devices process exited');
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      if (proc.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
        proc.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        proc.send({ type: 'stop' });
      });
    },
  };
}
