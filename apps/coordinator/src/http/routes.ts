/**
 * HTTP side of the coordinator: the device page, model files, tfjs wasm binaries, the dashboard,
 * a JSON status, the fleet partition endpoint and an upload-bandwidth probe.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Snapshot } from '../snapshot';
import type { PartitionData } from '../task';
import type { AssetDirs } from './asset-dirs';
import { isModelFile, isWasmFile } from './asset-dirs';
import { renderDashboard } from './dashboard';
import { resolveInside, sendFile } from './static-files';

/** Largest body the bandwidth probe reads; bigger requests are cut off with 413. */
export const PROBE_MAX_BYTES = 4 * 1024 * 1024;

export interface RouteDeps {
  readonly assets: AssetDirs;
  readonly snapshot: () => Snapshot;
  /** Device page URL as shown on the dashboard (without the join token). */
  readonly publicDeviceUrl: () => string;
  /** The partition of the fleet slot held by `deviceId` with secret `key`; undefined if they do not match. */
  readonly partitionFor: (deviceId: string, key: string) => PartitionData | undefined;
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

async function readProbe(req: IncomingMessage): Promise<number | undefined> {
  let bytes = 0;
  for await (const chunk of req) {
    bytes += (chunk as Buffer).byteLength;
    if (bytes > PROBE_MAX_BYTES) return undefined;
  }
  return bytes;
}

export function createRequestHandler(deps: RouteDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(deps, req, res).catch((err: unknown) => {
      if (!res.headersSent) sendText(res, 500, `internal error: ${(err as Error).message}`);
      else res.destroy();
    });
  };
}

async function handle(deps: RouteDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  const method = req.method ?? 'GET';

  if (method === 'POST' && path === '/api/probe/upload') {
    const bytes = await readProbe(req);
    if (bytes === undefined) return sendText(res, 413, `probe body larger than ${PROBE_MAX_BYTES} bytes`);
    return sendJson(res, 200, { bytes });
  }
  if (method !== 'GET' && method !== 'HEAD') return sendText(res, 405, 'method not allowed');

  if (path === '/healthz') return sendText(res, 200, 'ok');
  if (path === '/api/status') return sendJson(res, 200, deps.snapshot());
  if (path === '/dashboard' || path === '/dashboard/') {
    const html = renderDashboard(deps.snapshot(), deps.publicDeviceUrl());
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(method === 'HEAD' ? undefined : html);
    return;
  }
  if (path === '/api/fleet/partition') {
    const deviceId = url.searchParams.get('deviceId') ?? '';
    const key = url.searchParams.get('key') ?? '';
    const data = deps.partitionFor(deviceId, key);
    if (!data) return sendJson(res, 403, { error: 'no partition for this device and key' });
    return sendJson(res, 200, data);
  }
  if (path.startsWith('/model/')) {
    const name = path.slice('/model/'.length);
    if (!isModelFile(name)) return sendText(res, 404, 'not found');
    if (await sendFile(req, res, join(deps.assets.model, name), 'day')) return;
    return sendText(res, 404, 'not found');
  }
  if (path.startsWith('/tfjs-wasm/')) {
    const name = path.slice('/tfjs-wasm/'.length);
    if (!isWasmFile(name)) return sendText(res, 404, 'not found');
    if (await sendFile(req, res, join(deps.assets.tfjsWasm, name), 'day')) return;
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
