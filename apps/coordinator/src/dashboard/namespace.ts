/**
 * The `/dashboard` Socket.IO namespace: pushes the dashboard state to every page (an admin view to
 * sockets that presented the admin token, a viewer view to the rest), coalesced to at most one push
 * per `minPushIntervalMs`, and carries the admin actions after validating their arguments. The
 * device list goes out as deltas (`devicesPatch`, one patcher per audience): a page gets a snapshot
 * when it connects or asks (`resyncDevices`), then only the rows that changed.
 *
 * Handshake: `auth: { adminToken }` absent → viewer; a string accepted by `isAdminToken` → admin;
 * anything else is refused at connect ('invalid admin token'), so a page with a stale token learns
 * it instead of silently dropping to read-only.
 */
import type { Namespace, Server, Socket } from 'socket.io';
import type { z } from 'zod';
import { deviceIdSchema } from '../core';
import type { AdminAck, DashboardClientEvents, DashboardPush, DashboardServerEvents, DashboardState, RunParams, RunSummary } from './contract';
import { DASHBOARD_NAMESPACE, runParamsSchema } from './contract';
import { DevicesPatcher } from './devices-patch';

export interface DashboardSource {
  view(admin: boolean): DashboardState;
  /** Fired on any change (devices, progress, rounds); returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
  listRuns(): RunSummary[];
  /** Resolves with the new run's id; throws an Error whose message is shown to the admin. */
  startRun(params: RunParams): Promise<string>;
  stopRun(): Promise<void>;
  revokeDevice(deviceId: string): void;
  isAdminToken(token: string): boolean;
}

export interface DashboardNamespaceOptions {
  /** Least time between two pushes of the state (default 500 ms: ≤ 2 per second). */
  readonly minPushIntervalMs?: number;
  readonly log?: (line: string) => void;
  readonly now?: () => number;
}

export interface DashboardNamespace {
  readonly namespace: Namespace<DashboardClientEvents, DashboardServerEvents>;
  /** Stops listening to the source and disconnects every dashboard socket. */
  detach(): void;
}

export const ADMIN_TOKEN_REQUIRED = 'admin token required';
export const INVALID_ADMIN_TOKEN = 'invalid admin token';

const ADMIN_ROOM = 'admin';
const VIEWER_ROOM = 'viewer';

type DashboardSocket = Socket<DashboardClientEvents, DashboardServerEvents, Record<string, never>, { admin: boolean }>;

/** The trailing callback of a client event, when the client sent one. */
function ackOf<T extends (...args: never[]) => void>(args: readonly unknown[]): T | undefined {
  const last = args[args.length - 1];
  return typeof last === 'function' ? (last as T) : undefined;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.map(String).join('.') : '(value)'}: ${issue.message}`)
    .join('; ');
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function attachDashboardNamespace(io: Server, source: DashboardSource, opts: DashboardNamespaceOptions = {}): DashboardNamespace {
  const minInterval = opts.minPushIntervalMs ?? 500;
  const log = opts.log ?? (() => {});
  const now = opts.now ?? Date.now;
  const nsp = io.of(DASHBOARD_NAMESPACE) as unknown as Namespace<DashboardClientEvents, DashboardServerEvents, Record<string, never>, { admin: boolean }>;

  const viewFor = (admin: boolean): DashboardState | undefined => {
    try {
      return source.view(admin);
    } catch (err) {
      log(`dashboard: view failed: ${messageOf(err)}`);
      return undefined;
    }
  };

  const patchers = new Map<boolean, DevicesPatcher>([
    [true, new DevicesPatcher()],
    [false, new DevicesPatcher()],
  ]);
  const roomOf = (admin: boolean) => (admin ? ADMIN_ROOM : VIEWER_ROOM);
  /** The role's view now: its device delta goes to the role's room; returns the rest of the view. */
  const refresh = (admin: boolean): DashboardPush | undefined => {
    const view = viewFor(admin);
    if (!view) return undefined;
    const { devices, ...rest } = view;
    const patch = (patchers.get(admin) as DevicesPatcher).next(devices);
    if (patch) nsp.to(roomOf(admin)).emit('devicesPatch', patch);
    return rest;
  };

  let lastPushAt = -Infinity;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const push = () => {
    timer = undefined;
    lastPushAt = now();
    // One view per role, not per socket: the views are the expensive part.
    for (const admin of [true, false]) {
      if ((nsp.adapter.rooms.get(roomOf(admin))?.size ?? 0) === 0) continue;
      const rest = refresh(admin);
      if (rest) nsp.to(roomOf(admin)).emit('state', rest);
    }
  };
  const schedulePush = () => {
    if (timer !== undefined || nsp.sockets.size === 0) return;
    timer = setTimeout(push, Math.max(0, lastPushAt + minInterval - now()));
  };
  const unsubscribe = source.onChange(schedulePush);

  nsp.use((socket, next) => {
    const auth: unknown = socket.handshake.auth;
    const token = typeof auth === 'object' && auth !== null ? (auth as Record<string, unknown>).adminToken : undefined;
    if (token === undefined || token === null || token === '') {
      socket.data.admin = false;
      next();
      return;
    }
    let admin = false;
    try {
      admin = typeof token === 'string' && token.length <= 1024 && source.isAdminToken(token);
    } catch (err) {
      log(`dashboard: admin token check failed: ${messageOf(err)}`);
    }
    if (!admin) {
      next(new Error(INVALID_ADMIN_TOKEN));
      return;
    }
    socket.data.admin = true;
    next();
  });

  const onConnection = (socket: DashboardSocket) => {
    const admin = socket.data.admin === true;
    // The room's pages get what changed since their last patch; this page a snapshot of the same rows.
    const initial = refresh(admin);
    void socket.join(roomOf(admin));
    const patcher = patchers.get(admin) as DevicesPatcher;
    socket.emit('devicesPatch', patcher.snapshot());
    if (initial) socket.emit('state', initial);

    // Runs an admin action: refuses non-admin sockets and catches whatever the action throws.
    const adminAction = (ack: AdminAck | undefined, action: () => Promise<{ ok: true; runId?: string } | { ok: false; error: string }>) => {
      if (!ack) return;
      if (!admin) {
        ack({ ok: false, error: ADMIN_TOKEN_REQUIRED });
        return;
      }
      void action()
        .catch((err: unknown) => ({ ok: false as const, error: messageOf(err) }))
        .then((result) => ack(result))
        .catch((err: unknown) => log(`dashboard: answering an admin action failed: ${messageOf(err)}`));
    };

    // Handlers take `unknown[]`: a client may send anything, in any number, with or without an ack.
    const on = socket.on.bind(socket) as unknown as (event: string, handler: (...args: unknown[]) => void) => void;

    on('listRuns', (...args) => {
      const ack = ackOf<(runs: RunSummary[]) => void>(args);
      if (!ack) return;
      try {
        ack(source.listRuns());
      } catch (err) {
        log(`dashboard: listRuns failed: ${messageOf(err)}`);
        ack([]);
      }
    });

    on('resyncDevices', () => {
      socket.emit('devicesPatch', patcher.snapshot());
    });

    on('startRun', (...args) => {
      adminAction(ackOf<AdminAck>(args), async () => {
        const parsed = runParamsSchema.safeParse(args.length > 1 ? args[0] : undefined);
        if (!parsed.success) return { ok: false, error: `invalid run parameters: ${describeIssues(parsed.error)}` };
        const runId = await source.startRun(parsed.data);
        log(`dashboard: admin started run ${runId} (${parsed.data.strategy})`);
        return { ok: true, runId };
      });
    });

    on('stopRun', (...args) => {
      adminAction(ackOf<AdminAck>(args), async () => {
        await source.stopRun();
        log('dashboard: admin stopped the run');
        return { ok: true };
      });
    });

    on('revokeDevice', (...args) => {
      adminAction(ackOf<AdminAck>(args), async () => {
        const parsed = deviceIdSchema.safeParse(args.length > 1 ? args[0] : undefined);
        if (!parsed.success) return { ok: false, error: `invalid device id: ${describeIssues(parsed.error)}` };
        source.revokeDevice(parsed.data);
        log(`dashboard: admin revoked device ${parsed.data}`);
        return { ok: true };
      });
    });
  };
  nsp.on('connection', onConnection);

  return {
    namespace: nsp,
    detach() {
      unsubscribe();
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      nsp.off('connection', onConnection);
      nsp.disconnectSockets(true);
    },
  };
}
