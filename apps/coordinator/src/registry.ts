/**
 * Live view of the devices of this process: which socket speaks for which deviceId, what each
 * device reported at join, what it is doing now. The persistent record lives in CoordinatorState;
 * this is the in-memory side the run loop and the gateway consult.
 */
import type { DataMode, DeviceInfo, Join } from './core';
import { createHash } from 'node:crypto';
import { sameSecret } from './fleet-slots';

export type DeviceActivity = 'idle' | 'training' | 'gone';

export interface DeviceProgress {
  readonly round: number;
  readonly intraRound: number;
  readonly step: number;
  readonly localSteps: number;
  readonly loss: number;
}

/** What the coordinator accepted in a device's latest upload. */
export interface AcceptedUpload {
  readonly round: number;
  readonly intraRound: number;
  readonly groupId: string;
  /** Block keys the decoded delta carried (its depth shows here). */
  readonly blockKeys: readonly string[];
  readonly bytes: number;
}

export interface LiveDevice {
  readonly deviceId: string;
  /** Socket currently speaking for this device; null while disconnected. */
  socketId: string | null;
  dataMode: DataMode;
  /** The device's join report; undefined between hello and join. */
  report: Join | undefined;
  /** Number of joins in this process (a reload or reconnect adds one). */
  joins: number;
  /** The connection the last join came on (the report may be older than the current socket). */
  joinedOn: string | null;
  activity: DeviceActivity;
  progress: DeviceProgress | undefined;
  groupId: string | undefined;
  depth: number | undefined;
  localSteps: number | undefined;
  lastUpload: AcceptedUpload | undefined;
  lastSeen: number;
  bytesUp: number;
  bytesDown: number;
  lastError: string | undefined;
  /** The device said it holds its training (the reasons it gave), and since when; undefined = active. */
  paused: { reasons: readonly string[]; since: number } | undefined;
}

/** Told after a change, with the devices it touched (empty: unknown, treat every device as changed). */
export type RegistryListener = (deviceIds: readonly string[]) => void;

/** Where device-key bindings persist (CoordinatorState for one run); only hashes of keys pass through. */
export interface KeyBindings {
  get(deviceId: string): string | undefined;
  set(deviceId: string, keyHash: string): void;
}

export function hashDeviceKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('base64url');
}

export class DeviceRegistry {
  private readonly devices = new Map<string, LiveDevice>();
  private readonly socketToDevice = new Map<string, string>();
  private readonly listeners = new Set<RegistryListener>();
  private readonly keys = new Map<string, string>();
  /** Devices the operator revoked: never again admitted by this process. */
  private readonly revoked = new Set<string>();
  /** How many devices are joined and connected, kept as they change (joinedConnected() sorts all). */
  private joinedConnectedTotal = 0;

  /** `bindings`: where key bindings persist (default: this object only). */
  constructor(private readonly bindings?: KeyBindings) {}

  /**
   * Whether `key` may speak for `deviceId`: the first key a device presents is bound to its id for
   * this run (as a SHA-256 hash, persisted through `bindings`, so a restart keeps it); later hellos
   * must present the same one. A device that never presented a key stays unbound (old clients),
   * but once bound a hello without the key is refused.
   */
  admitsKey(deviceId: string, key: string | undefined): boolean {
    let bound = this.keys.get(deviceId);
    if (bound === undefined) {
      bound = this.bindings?.get(deviceId);
      if (bound !== undefined) this.keys.set(deviceId, bound);
    }
    if (bound === undefined) {
      if (key !== undefined) {
        const hash = hashDeviceKey(key);
        this.keys.set(deviceId, hash);
        this.bindings?.set(deviceId, hash);
      }
      return true;
    }
    return key !== undefined && sameSecret(bound, hashDeviceKey(key));
  }

  /** A socket introduced itself as `deviceId`; a newer socket replaces an older one. */
  hello(deviceId: string, socketId: string, dataMode: DataMode, at: number): LiveDevice {
    let device = this.devices.get(deviceId);
    if (!device) {
      device = {
        deviceId,
        socketId,
        dataMode,
        report: undefined,
        joins: 0,
        joinedOn: null,
        activity: 'idle',
        progress: undefined,
        groupId: undefined,
        depth: undefined,
        localSteps: undefined,
        lastUpload: undefined,
        lastSeen: at,
        bytesUp: 0,
        bytesDown: 0,
        lastError: undefined,
        paused: undefined,
      };
      this.devices.set(deviceId, device);
    }
    // A new socket (reload, reconnect) starts active; a page that is still paused says so again.
    if (device.socketId !== socketId) device.paused = undefined;
    if (device.socketId !== null && device.socketId !== socketId) this.socketToDevice.delete(device.socketId);
    const previousDevice = this.socketToDevice.get(socketId);
    if (previousDevice !== undefined && previousDevice !== deviceId) this.release(previousDevice, socketId, at);
    const wasCounted = counts(device);
    device.socketId = socketId;
    this.recount(wasCounted, device);
    device.dataMode = dataMode;
    device.lastSeen = at;
    if (device.activity === 'gone') device.activity = 'idle';
    this.socketToDevice.set(socketId, deviceId);
    this.changed([deviceId]);
    return device;
  }

  /**
   * Revokes `deviceId`: its socket no longer speaks for it (it leaves joinedConnected at once) and
   * the gateway refuses it from now on. Returns the socket that spoke for it, for the caller to close.
   */
  revoke(deviceId: string, at: number): string | null {
    this.revoked.add(deviceId);
    const socketId = this.devices.get(deviceId)?.socketId ?? null;
    if (socketId !== null) this.release(deviceId, socketId, at);
    return socketId;
  }

  isRevoked(deviceId: string): boolean {
    return this.revoked.has(deviceId);
  }

  /** Records a join; `rejoin` is true when this deviceId had joined before in this process. */
  join(socketId: string, report: Join, at: number): { device: LiveDevice; rejoin: boolean } {
    const device = this.bySocket(socketId);
    if (!device || device.deviceId !== report.deviceId) {
      throw new Error(`socket ${socketId} has not said hello as ${report.deviceId}`);
    }
    const rejoin = device.joins > 0;
    const wasCounted = counts(device);
    device.report = report;
    this.recount(wasCounted, device);
    device.joins += 1;
    device.joinedOn = socketId;
    device.lastSeen = at;
    device.activity = 'idle';
    device.progress = undefined;
    this.changed([device.deviceId]);
    return { device, rejoin };
  }

  /** The socket went away; returns the device it spoke for, if it was still the current one. */
  disconnect(socketId: string, at: number): LiveDevice | undefined {
    const deviceId = this.socketToDevice.get(socketId);
    if (deviceId === undefined) return undefined;
    return this.release(deviceId, socketId, at);
  }

  get(deviceId: string): LiveDevice | undefined {
    return this.devices.get(deviceId);
  }

  bySocket(socketId: string): LiveDevice | undefined {
    const deviceId = this.socketToDevice.get(socketId);
    return deviceId === undefined ? undefined : this.devices.get(deviceId);
  }

  /** Connected devices that have joined (reported profile and data), in deviceId order. */
  joinedConnected(): LiveDevice[] {
    return [...this.devices.values()]
      .filter((d) => d.socketId !== null && d.report !== undefined)
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  }

  /** joinedConnected().length without building the list. */
  joinedConnectedCount(): number {
    return this.joinedConnectedTotal;
  }

  /**
   * Forgets devices disconnected for at least `graceMs` (their persistent record stays in the
   * state; their key binding and any revocation stay here, so a returning device is still bound
   * to its key). A device that comes back later joins as new. Returns the evicted ids.
   */
  evictGone(graceMs: number, at: number): string[] {
    const evicted: string[] = [];
    for (const [id, d] of this.devices) {
      if (d.socketId === null && at - d.lastSeen >= graceMs) {
        this.devices.delete(id);
        evicted.push(id);
      }
    }
    if (evicted.length > 0) this.changed(evicted);
    return evicted;
  }

  isConnected(deviceId: string): boolean {
    return (this.devices.get(deviceId)?.socketId ?? null) !== null;
  }

  list(): LiveDevice[] {
    return [...this.devices.values()];
  }

  touch(deviceId: string, at: number): void {
    const d = this.devices.get(deviceId);
    if (d) d.lastSeen = at;
  }

  setWork(deviceId: string, work: { groupId: string; depth: number; localSteps: number } | undefined): void {
    const d = this.devices.get(deviceId);
    if (!d) return;
    d.groupId = work?.groupId ?? d.groupId;
    d.depth = work?.depth ?? d.depth;
    d.localSteps = work?.localSteps ?? d.localSteps;
    d.activity = work ? 'training' : d.socketId === null ? 'gone' : 'idle';
    if (!work) d.progress = undefined;
    this.changed([deviceId]);
  }

  setProgress(deviceId: string, progress: DeviceProgress, at: number): void {
    const d = this.devices.get(deviceId);
    if (!d) return;
    d.progress = progress;
    d.lastSeen = at;
    this.changed([deviceId]);
  }

  recordUpload(deviceId: string, upload: AcceptedUpload): void {
    const d = this.devices.get(deviceId);
    if (!d) return;
    d.lastUpload = upload;
    this.changed([deviceId]);
  }

  addBytes(deviceId: string, up: number, down: number): void {
    const d = this.devices.get(deviceId);
    if (!d) return;
    d.bytesUp += up;
    d.bytesDown += down;
  }

  /** The device holds its training (reasons) or resumed (undefined). */
  setPaused(deviceId: string, reasons: readonly string[] | undefined, at: number): void {
    const d = this.devices.get(deviceId);
    if (!d) return;
    d.paused = reasons === undefined ? undefined : { reasons: [...reasons], since: d.paused?.since ?? at };
    d.lastSeen = at;
    this.changed([deviceId]);
  }

  setError(deviceId: string, message: string): void {
    const d = this.devices.get(deviceId);
    if (d) d.lastError = message;
  }

  /** Called on every change: membership (hello, join, disconnect), work assigned or done, progress, uploads. */
  onChange(listener: RegistryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private release(deviceId: string, socketId: string, at: number): LiveDevice | undefined {
    this.socketToDevice.delete(socketId);
    const device = this.devices.get(deviceId);
    if (!device || device.socketId !== socketId) return undefined;
    const wasCounted = counts(device);
    device.socketId = null;
    this.recount(wasCounted, device);
    device.activity = 'gone';
    device.lastSeen = at;
    this.changed([deviceId]);
    return device;
  }

  private recount(wasCounted: boolean, device: LiveDevice): void {
    this.joinedConnectedTotal += Number(counts(device)) - Number(wasCounted);
  }

  private changed(deviceIds: readonly string[]): void {
    for (const l of this.listeners) l(deviceIds);
  }
}

const counts = (d: LiveDevice): boolean => d.socketId !== null && d.report !== undefined;

/** The strategy's view of a joined device. */
export function toDeviceInfo(device: LiveDevice): DeviceInfo {
  const report = device.report;
  if (!report) throw new Error(`device ${device.deviceId} has not joined`);
  return {
    id: device.deviceId,
    numSamples: report.numSamples,
    labelHistogram: report.labelHistogram,
    profile: report.profile,
  };
}
