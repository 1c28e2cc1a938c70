/**
 * HTTP side of the coordinator: the device page, model files, tfjs wasm binaries, the dashboard
 * page, a JSON status, the fleet partition endpoint, an upload-bandwidth probe, and the admin API
 * (bearer admin token: export an adapter, start/stop a run, revoke a device).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Snapshot } from '../snapshot';
import type { PartitionData } from '../task';
import { handlePeftExport, type ExportPeft } from './peft-route';
import type { AssetDirs } from './asset-dirs';
import { isModelFile, isWasmFile, THREADED_MODULE_SCRIPT } from './asset-dirs';
import { runParamsSchema } from '../dashboard/contract';
import type { RunParams } from '../dashboard/contract';
import { resolveInside, sendFile } from './static-files';
import { requestAddress } from '../connection-limits';
import { ConcurrencyGate, DOWNLOAD_CONCURRENCY, DOWNLOAD_QUEUE, PerAddressRate, PROBE_BURST, PROBE_PER_MINUTE } from './request-limits';

/** Largest body the bandwidth probe reads; bigger requests are cut off with 413. */
export const PROBE_MAX_BYTES = 4 * 1024 * 1024;
/** Largest JSON body the admin API reads. */
export const ADMIN_MAX_BYTES = 64 * 1024;

/** What the admin API may do; every call has passed the admin-token check. */
export interface AdminActions {
  isAdminToken(token: string): boolean;
  currentRunId(): string;
  /** Encoded adapter of a completed round (the latest when round is undefined), or undefined. */
  exportAdapter(runId: string, round: number | undefined): Uint8Array | undefined;
  startRun(params: RunParams): Promise<string>;
  stopRun(): Promise<void>;
  revokeDevice(deviceId: string): void;
  /** N new single-use invites with their device URLs (throws on a bad count). */
  issueInvites(count: number): Array<{ invite: string; url: string }>;
  /** Invites issued so far and how many of them a device has used (only hashes are kept: the links cannot be listed again). */
  inviteCounts?(): { issued: number; used: number };
  /** Causal-LM tasks: a stored round as a PEFT adapter (see peft-route.ts). */
  exportPeft?: ExportPeft;
}

export interface RouteDeps {
  readonly assets: AssetDirs;
  /** `admin`: the request carried the admin token (per-device data and profiles included). */
  readonly snapshot: (admin: boolean) => Snapshot;
  /** Device page URL as shown on the dashboard (without the join token). */
  readonly publicDeviceUrl: () => string;
  /** The partition of the fleet slot held by `deviceId` with secret `key`; undefined if they do not match. */
  readonly partitionFor: (deviceId: string, key: string) => PartitionData | undefined;
  readonly admin?: AdminActions;
  /** Reverse proxies whose X-Forwarded-For names the client (--trust-proxy); default none. */
  readonly trustedProxies?: readonly string[];
  /** Files the task serves to tabs besides the page (causal-LM: the checkpoint); true when it answered. */
  readonly serveFiles?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(text);
}

/** Reads a JSON body of at most ADMIN_MAX_BYTES; undefined when it is larger or not JSON. */
async function readJson(req: IncomingMessage): Promise<{ ok: true; value: unknown } | { ok: false; error: string }> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req) {
    bytes += (chunk as Buffer).byteLength;
    if (bytes > ADMIN_MAX_BYTES) return { ok: false, error: `body larger than ${ADMIN_MAX_BYTES} bytes` };
    chunks.push(chunk as Buffer);
  }
  try {
    return { ok: true, value: bytes === 0 ? {} : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) };
  } catch {
    return { ok: false, error: 'body is not JSON' };
  }
}

function bearer(req: IncomingMessage): string {
  const h = req.headers.authorization ?? '';
  return h.startsWith('Bearer ') ? h.slice('Bearer '.length).trim() : '';
}

async function handleAdmin(admin: AdminActions, req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> {
  if (!admin.isAdminToken(bearer(req))) {
    res.setHeader('WWW-Authenticate', 'Bearer realm="tabfleet admin"');
    return sendJson(res, 401, { error: 'admin token required (Authorization: Bearer <token>)' });
  }
  const path = url.pathname;
  if (method === 'GET' && path === '/api/admin/invites') {
    return sendJson(res, 200, admin.inviteCounts?.() ?? { issued: 0, used: 0 });
  }
  if (await handlePeftExport(admin.exportPeft, req, res, url)) return;
  if ((method === 'GET' || method === 'HEAD') && path === '/api/admin/adapter') {
    const runId = url.searchParams.get('runId') ?? admin.currentRunId();
    const roundRaw = url.searchParams.get('round');
    const round = roundRaw === null ? undefined : Number(roundRaw);
    if (round !== undefined && !(Number.isInteger(round) && round >= 0)) return sendJson(res, 400, { error: `round must be an integer >= 0, got "${roundRaw}"` });
    const bytes = admin.exportAdapter(runId, round);
    if (!bytes) return sendJson(res, 404, { error: `no checkpoint for run ${runId}${round === undefined ? '' : ` round ${round}`}` });
    const name = `${runId.replace(/[^A-Za-z0-9_-]/g, '_')}${round === undefined ? '' : `-round${round}`}.tfad`;
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': bytes.byteLength,
      'Content-Disposition': `attachment; filename="${name}"`,
      'Cache-Control': 'no-store',
    });
    res.end(method === 'HEAD' ? undefined : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return;
  }
  if (method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' });
  const body = await readJson(req);
  if (!body.ok) return sendJson(res, 400, { error: body.error });
  try {
    if (path === '/api/admin/run/start') {
      const parsed = runParamsSchema.safeParse(body.value);
      if (!parsed.success) return sendJson(res, 400, { error: `invalid run parameters: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` });
      return sendJson(res, 200, { runId: await admin.startRun(parsed.data) });
    }
    if (path === '/api/admin/run/stop') {
      await admin.stopRun();
      return sendJson(res, 200, { runId: admin.currentRunId() });
    }
    if (path === '/api/admin/invites') {
      const count = (body.value as { count?: unknown }).count ?? 1;
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 1000) return sendJson(res, 400, { error: 'count must be an integer in [1, 1000]' });
      return sendJson(res, 200, { invites: admin.issueInvites(count) });
    }
    if (path === '/api/admin/devices/revoke') {
      const deviceId = (body.value as { deviceId?: unknown }).deviceId;
      if (typeof deviceId !== 'string' || !/^[A-Za-z0-9_-]{8,64}$/.test(deviceId)) return sendJson(res, 400, { error: 'deviceId must be a device id' });
      admin.revokeDevice(deviceId);
      return sendJson(res, 200, { deviceId });
    }
  } catch (err) {
    return sendJson(res, 409, { error: (err as Error).message });
  }
  return sendJson(res, 404, { error: 'no such admin action' });
}

async function readProbe(req: IncomingMessage): Promise<number | undefined> {
  let bytes = 0;
  for await (const chunk of req) {
    bytes += (chunk as Buffer).byteLength;
    if (bytes > PROBE_MAX_BYTES) return undefined;
  }
  return bytes;
}

/**
 * Sent on every response. COOP + COEP make the device page cross-origin isolated, which is what
 * gives it SharedArrayBuffer and with it tfjs's multi-threaded wasm; CORP lets isolated pages of
 * this origin load every resource (model shards, wasm binaries) and keeps other origins out.
 */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

interface Limits {
  readonly downloads: ConcurrencyGate;
  readonly probes: PerAddressRate;
}

export function createRequestHandler(deps: RouteDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const limits: Limits = { downloads: new ConcurrencyGate(DOWNLOAD_CONCURRENCY, DOWNLOAD_QUEUE), probes: new PerAddressRate(PROBE_BURST, PROBE_PER_MINUTE) };
  return (req, res) => {
    for (const [name, value] of Object.entries(ISOLATION_HEADERS)) res.setHeader(name, value);
    handle(deps, limits, req, res).catch((err: unknown) => {
      if (!res.headersSent) sendText(res, 500, `internal error: ${(err as Error).message}`);
      else res.destroy();
    });
  };
}

/** Serves a large file through the download gate; false when it does not exist. */
async function sendLarge(limits: Limits, req: IncomingMessage, res: ServerResponse, file: string): Promise<boolean> {
  const sent = await limits.downloads.run(() => sendFile(req, res, file, 'day'));
  if (sent === undefined) {
    res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '5', 'Cache-Control': 'no-store' });
    res.end(`busy: ${limits.downloads.maxConcurrent} downloads running and ${limits.downloads.maxQueued} waiting; retry shortly`);
    return true;
  }
  return sent;
}

async function handle(deps: RouteDeps, limits: Limits, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  const method = req.method ?? 'GET';

  if (method === 'POST' && path === '/api/probe/upload') {
    if (!limits.probes.take(requestAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], deps.trustedProxies ?? []), Date.now())) {
      res.writeHead(429, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '60', 'Cache-Control': 'no-store', Connection: 'close' });
      res.end(`over ${PROBE_PER_MINUTE} bandwidth probes a minute from this address`);
      req.resume();
      return;
    }
    const bytes = await readProbe(req);
    if (bytes === undefined) return sendText(res, 413, `probe body larger than ${PROBE_MAX_BYTES} bytes`);
    return sendJson(res, 200, { bytes });
  }
  if (path.startsWith('/api/admin/')) {
    if (!deps.admin) return sendJson(res, 404, { error: 'no admin API' });
    return handleAdmin(deps.admin, req, res, url, method);
  }
  if (method !== 'GET' && method !== 'HEAD') return sendText(res, 405, 'method not allowed');

  if (path === '/healthz') return sendText(res, 200, 'ok');
  if (path === '/api/status') return sendJson(res, 200, deps.snapshot(deps.admin?.isAdminToken(bearer(req)) === true));
  if (path === '/dashboard') {
    res.writeHead(302, { Location: `/dashboard/${url.search}` });
    res.end();
    return;
  }
  if (path.startsWith('/dashboard/')) {
    const rel = path === '/dashboard/' ? 'index.html' : path.slice('/dashboard/'.length);
    const file = resolveInside(deps.assets.dashboard, rel);
    if (file === undefined) return sendText(res, 404, 'not found');
    if (await sendFile(req, res, file, rel.startsWith('assets/') ? 'immutable' : 'no-cache')) return;
    if (rel === 'index.html') return sendText(res, 503, 'dashboard not built: run `npm run build` (npm start does it)');
    return sendText(res, 404, 'not found');
  }
  if (path === '/api/fleet/partition') {
    const deviceId = url.searchParams.get('deviceId') ?? '';
    const key = url.searchParams.get('key') ?? '';
    const data = deps.partitionFor(deviceId, key);
    if (!data) return sendJson(res, 403, { error: 'no partition for this device and key' });
    // Causal-LM partitions carry rows (lmPartitionSchema), classification ones texts and labels.
    if (data.rows) return sendJson(res, 200, { index: data.index, categories: data.classNames, rows: data.rows });
    return sendJson(res, 200, data);
  }
  if (path.startsWith('/model/')) {
    const name = path.slice('/model/'.length);
    if (!isModelFile(name)) return sendText(res, 404, 'not found');
    if (await sendLarge(limits, req, res, join(deps.assets.model, name))) return;
    return sendText(res, 404, 'not found');
  }
  if (deps.serveFiles?.(req, res)) return;
  if (path.startsWith('/tfjs-wasm/')) {
    const name = path.slice('/tfjs-wasm/'.length);
    if (name === THREADED_MODULE_SCRIPT) {
      if (await sendFile(req, res, join(deps.assets.tfjsWasmOut, name), 'day')) return;
      return sendText(res, 404, 'not found');
    }
    if (!isWasmFile(name)) return sendText(res, 404, 'not found');
    if (await sendLarge(limits, req, res, join(deps.assets.tfjsWasm, name))) return;
    return sendText(res, 404, 'not found');
  }
  // The device page: hashed build assets are immutable, index.html is revalidated.
  const rel = path === '/' ? 'index.html' : path.slice(1);
  const file = resolveInside(deps.assets.devicePage, rel);
  if (file === undefined) return sendText(res, 404, 'not found');
  const cache = rel.startsWith('assets/') ? 'immutable' : 'no-cache';
  if (await sendFile(req, res, file, cache)) return;
  if (rel === 'index.html') return sendText(res, 503, 'device page not built: run `npm run build` (npm start does it)');
  return sendText(res, 404, 'not found');
}
