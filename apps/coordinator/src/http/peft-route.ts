/**
 * `GET /api/admin/runs/<runId>/export?format=peft[&round=K][&file=NAME]`: a stored round's global
 * adapter as a PEFT LoRA adapter (causal-LM tasks). Without `file`, a tar of the folder
 * `<run>-round<K>-peft/` (adapter_config.json, adapter_model.safetensors): `tar xf` it and load it
 * with PEFT or `npm run generate -- --adapter`. With `file`, that one file.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PeftAdapterFiles } from '../task';
import { tarArchive } from './tar';

export const PEFT_EXPORT_PATH = /^\/api\/admin\/runs\/([A-Za-z0-9_-]{1,64})\/export$/;
const FILES = ['adapter_config.json', 'adapter_model.safetensors'] as const;

/** Undefined: no checkpoint of that round. Throws with a message when the task cannot export PEFT. */
export type ExportPeft = (runId: string, round: number | undefined) => Promise<(PeftAdapterFiles & { round: number }) | undefined>;

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Answers the request when its path is the export path (true), else leaves it (false). */
export async function handlePeftExport(exportPeft: ExportPeft | undefined, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const m = PEFT_EXPORT_PATH.exec(url.pathname);
  if (!m) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method not allowed' }), true;
  const format = url.searchParams.get('format') ?? 'peft';
  if (format !== 'peft') return json(res, 400, { error: `format must be "peft", got "${format}" (the wire format is GET /api/admin/adapter)` }), true;
  const roundRaw = url.searchParams.get('round');
  const round = roundRaw === null ? undefined : Number(roundRaw);
  if (round !== undefined && !(Number.isInteger(round) && round >= 0)) return json(res, 400, { error: `round must be an integer >= 0, got "${roundRaw}"` }), true;
  const file = url.searchParams.get('file');
  if (file !== null && !(FILES as readonly string[]).includes(file)) return json(res, 400, { error: `file must be one of ${FILES.join(', ')}` }), true;
  if (!exportPeft) return json(res, 400, { error: 'PEFT export needs a causal-lm task (a Hugging Face decoder); this run fine-tunes the built-in encoder' }), true;
  const runId = m[1]!;
  let out;
  try {
    out = await exportPeft(runId, round);
  } catch (err) {
    return json(res, 422, { error: (err as Error).message }), true;
  }
  if (!out) return json(res, 404, { error: `no checkpoint for run ${runId}${round === undefined ? '' : ` round ${round}`}` }), true;
  const folder = `${runId}-round${out.round}-peft`;
  const config = Buffer.from(out.configJson + '\n');
  let body: Uint8Array;
  let type = 'application/octet-stream';
  let name: string;
  if (file === 'adapter_config.json') [body, type, name] = [config, 'application/json', file];
  else if (file === 'adapter_model.safetensors') [body, name] = [out.weights, file];
  else {
    body = tarArchive([
      { path: `${folder}/adapter_config.json`, data: config },
      { path: `${folder}/adapter_model.safetensors`, data: out.weights },
    ]);
    [type, name] = ['application/x-tar', `${folder}.tar`];
  }
  res.writeHead(200, {
    'Content-Type': type,
    'Content-Length': body.byteLength,
    'Content-Disposition': `attachment; filename="${name}"`,
    'Cache-Control': 'no-store',
    'X-Tabfleet-Round': String(out.round),
    'X-Tabfleet-Layers': out.layers.join(','),
  });
  res.end(req.method === 'HEAD' ? undefined : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  return true;
}
