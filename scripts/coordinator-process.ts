/**
 * A real coordinator process (`node --import tsx apps/coordinator/src/main.ts`) on a free port
 * (--port 0), ready once it prints TABFLEET_READY. Used by the end-to-end specs (in-memory state)
 * and by `npm run demo` (which passes its own --db and streams the output).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface CoordinatorProcess {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  readonly adminToken: string;
  readonly runId: string;
  /** True when the process picked up an unfinished run from its database. */
  readonly resumed: boolean;
  readonly pid: number;
  /** Everything the process printed so far. */
  output(): string;
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
  /** Kills the process with SIGKILL (a crash: no shutdown code runs) and waits for it to end. */
  crash(): Promise<void>;
}

export interface CoordinatorProcessOptions {
  readonly readyTimeoutMs?: number;
  /** Receives everything the process prints, as it comes. */
  readonly onOutput?: (text: string) => void;
  /** --db value (default: memory). */
  readonly db?: string;
  /** Listen port (default 0: any free port); a restart passes the port it had. */
  readonly port?: number;
  /**
   * Join and admin tokens (default: generated); a restart passes the ones it had. token null: no
   * --token flag at all (the process generates one, or resumes with its run's stored one), read
   * back from the device URL it prints.
   */
  readonly token?: string | null;
  readonly adminToken?: string;
}

export async function startCoordinatorProcess(args: readonly string[] = [], opts: CoordinatorProcessOptions = {}): Promise<CoordinatorProcess> {
  const readyTimeoutMs = opts.readyTimeoutMs ?? 180_000;
  let token = opts.token === null ? '' : (opts.token ?? randomBytes(9).toString('base64url'));
  const adminToken = opts.adminToken ?? randomBytes(12).toString('base64url');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import', 'tsx', 'apps/coordinator/src/main.ts',
      '--port', String(opts.port ?? 0), '--host', '127.0.0.1',
      // '=' form: a base64url token may start with '-'.
      ...(opts.token === null ? [] : [`--token=${token}`]), `--admin-token=${adminToken}`,
      '--db', opts.db ?? 'memory',
      ...args,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<{ url: string; runId: string; resumed: boolean }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coordinator not ready after ${readyTimeoutMs} ms:\n${output}`)), readyTimeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      opts.onOutput?.(chunk.toString());
      const m = /^TABFLEET_READY (.+)$/m.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(JSON.parse(m[1] as string) as { url: string; runId: string; resumed: boolean });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer) => {
      output += c.toString();
      opts.onOutput?.(c.toString());
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`coordinator exited with ${code} before it was ready:\n${output}`));
    });
  });
  const { url, runId, resumed } = await ready;
  if (opts.token === null) {
    const printed = /device URL:\s+\S*\?token=(\S+)/.exec(output);
    if (!printed) throw new Error(`the coordinator printed no device URL with a token:\n${output}`);
    token = decodeURIComponent(printed[1] as string);
  }
  return {
    url,
    port: Number(new URL(url).port),
    token,
    adminToken,
    runId,
    resumed,
    pid: child.pid as number,
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    async crash() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
