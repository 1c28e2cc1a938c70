/**
 * The page's link to the coordinator: one Socket.IO client on the `/dashboard` namespace holding the
 * latest pushed state (the device list kept from `devicesPatch` deltas), and the admin actions as
 * promises.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { io } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import type { AdminAck, DashboardClientEvents, DashboardPush, DashboardServerEvents, DashboardState, DeviceRowView, RunParams, RunSummary } from '../../src/dashboard/contract';
import { DASHBOARD_NAMESPACE } from '../../src/dashboard/contract';
import { applyDevicesPatch, parseDevicesPatch, sortedRows } from '../../src/dashboard/devices-patch';
import type { DeviceList } from '../../src/dashboard/devices-patch';
import { shareUnchanged } from './structural-sharing';

export type DashboardSocket = Socket<DashboardServerEvents, DashboardClientEvents>;
export type AdminResult = Parameters<AdminAck>[0];
export type ConnectionState = 'connecting' | 'connected' | 'offline';

/** Must match the server's refusal (src/dashboard/namespace.ts). */
const INVALID_ADMIN_TOKEN = 'invalid admin token';
const ACK_TIMEOUT_MS = 30_000;

export interface DashboardConnection {
  readonly socket: DashboardSocket | null;
  readonly state: DashboardState | null;
  readonly connection: ConnectionState;
  /** Set when the server refused the admin token (the page then falls back to read-only). */
  readonly tokenRefused: boolean;
}

export function useDashboardConnection(adminToken: string | null, onTokenRefused: () => void): DashboardConnection {
  const [socket, setSocket] = useState<DashboardSocket | null>(null);
  const [push, setPush] = useState<DashboardPush | null>(null);
  const [devices, setDevices] = useState<readonly DeviceRowView[]>([]);
  const [connection, setConnection] = useState<ConnectionState>('connecting');
  const [tokenRefused, setTokenRefused] = useState(false);
  const onTokenRefusedRef = useRef(onTokenRefused);
  onTokenRefusedRef.current = onTokenRefused;

  useEffect(() => {
    // Same origin as the page; websocket only, like the coordinator's device sockets.
    const s: DashboardSocket = io(DASHBOARD_NAMESPACE, { transports: ['websocket'], forceNew: true, auth: adminToken ? { adminToken } : {} });
    setSocket(s);
    setConnection('connecting');
    if (adminToken) setTokenRefused(false);
    s.on('connect', () => setConnection('connected'));
    s.on('disconnect', () => setConnection('offline'));
    s.on('connect_error', (err) => {
      setConnection('offline');
      if (err.message === INVALID_ADMIN_TOKEN) {
        setTokenRefused(true);
        onTokenRefusedRef.current();
      }
    });
    s.on('state', (next) => setPush((prev) => (prev ? shareUnchanged(prev, next) : next)));
    // The device list: a snapshot at connect, then deltas; one that does not apply asks for a snapshot.
    let list: DeviceList | null = null;
    let resyncAsked = false;
    s.on('devicesPatch', (raw: unknown) => {
      const patch = parseDevicesPatch(raw);
      const result = patch ? applyDevicesPatch(list, patch) : { ok: false as const, reason: 'malformed patch' };
      if (!result.ok) {
        if (!resyncAsked) s.emit('resyncDevices');
        resyncAsked = true;
        return;
      }
      resyncAsked = false;
      list = result.list;
      setDevices(sortedRows(result.list));
    });
    return () => {
      s.removeAllListeners();
      s.disconnect();
    };
  }, [adminToken]);

  const state = useMemo<DashboardState | null>(() => (push ? { ...push, devices } : null), [push, devices]);
  return { socket, state, connection, tokenRefused };
}

function ack<T>(promise: Promise<T>, fallback: (err: Error) => T): Promise<T> {
  return promise.catch((err: Error) => fallback(err));
}

export function startRun(socket: DashboardSocket, params: RunParams): Promise<AdminResult> {
  return ack(socket.timeout(ACK_TIMEOUT_MS).emitWithAck('startRun', params), (err) => ({ ok: false, error: err.message }));
}

export function stopRun(socket: DashboardSocket): Promise<AdminResult> {
  return ack(socket.timeout(ACK_TIMEOUT_MS).emitWithAck('stopRun'), (err) => ({ ok: false, error: err.message }));
}

export function revokeDevice(socket: DashboardSocket, deviceId: string): Promise<AdminResult> {
  return ack(socket.timeout(ACK_TIMEOUT_MS).emitWithAck('revokeDevice', deviceId), (err) => ({ ok: false, error: err.message }));
}

export function listRuns(socket: DashboardSocket): Promise<RunSummary[]> {
  return ack(socket.timeout(ACK_TIMEOUT_MS).emitWithAck('listRuns'), () => []);
}
