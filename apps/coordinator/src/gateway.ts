/**
 * The Socket.IO side of the coordinator: every device event passes the connection's limits (rate,
 * refusals, hello first), is validated against its schema where it enters, then handed to the
 * registry, the state or the engine. No algorithm lives here.
 *
 * Every refused message is answered with `serverError {code, message, event}`. A connection is
 * closed after a refusal that makes it useless (bad token, protocol mismatch, no partition,
 * revoked), after more than `maxStrikes` refusals within `strikeWindowMs` ('too-many-errors'), and
 * when it sends no accepted hello within `helloTimeoutMs`.
 */
import { randomBytes } from 'node:crypto';
import type { Server, Socket } from 'socket.io';
import type { ConnectionLimits } from './connection-limits';
import { AddressLimits, ConnectionGuard, connectionLimits, requestAddress } from './connection-limits';
import { isDeviceEvent, parseDeviceMessage, PROTOCOL_VERSION } from './core';
import type {
  DeviceMessage,
  DeviceToServer,
  DeviceToServerEvents,
  Join,
  RunStatus,
  ServerErrorCode,
  ServerToDeviceEvents,
  ServerToDeviceWire,
  TaskInfo,
  Upload,
  UploadOffer,
} from './core';
import type { DeviceChannel, UploadVerdict } from './engine/run-loop';
import type { FleetSlots } from './fleet-slots';
import type { InviteBook } from './invites';
import { sameSecret } from './fleet-slots';
import { hashDeviceKey } from './registry';
import type { DeviceRegistry } from './registry';
import { StatusThrottle } from './status-throttle';
import type { CoordinatorState } from './state';

export type CoordinatorServer = Server<DeviceToServerEvents, ServerToDeviceEvents>;
type DeviceSocket = Socket<DeviceToServerEvents, ServerToDeviceEvents>;

/** What the gateway needs from the engine. */
export interface EngineHooks {
  acceptUpload(deviceId: string, upload: Upload): UploadVerdict;
  offerUpload(deviceId: string, offer: UploadOffer): UploadVerdict;
  deviceLeft(deviceId: string): void;
  /** A device joined (again) on a new connection: it gets back any work it still has open. */
  deviceRejoined(deviceId: string): void;
  status(): RunStatus;
}

export interface GatewayDeps {
  readonly runId: string;
  readonly token: string;
  readonly task: TaskInfo;
  readonly registry: DeviceRegistry;
  readonly state: CoordinatorState;
  readonly fleet: FleetSlots;
  readonly limits?: Partial<ConnectionLimits>;
  /** Per-address limits shared by every run of the process (default: this gateway's own). */
  readonly addresses?: AddressLimits;
  /** Single-use invites, each admitting one device; with invitesOnly the shared token admits nobody. */
  readonly invites?: InviteBook;
  readonly invitesOnly?: boolean;
  /** In a cluster: revocation, key binding and fleet slot decided in Redis for all nodes, before the hello is handled here. */
  readonly admission?: HelloAdmission;
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

export interface HelloAdmission {
  admit(deviceId: string, keyHash: string | undefined, fleet: { numPartitions: number; newKey: string } | undefined): Promise<
    { readonly ok: true; readonly slot?: { readonly index: number; readonly key: string } } | { readonly ok: false; readonly code: 'revoked' | 'bad-key' | 'full' }
  >;
}

/** One socket's limits, and the device it said hello as (kept after a revocation releases it in the registry). */
interface Connection {
  readonly socket: DeviceSocket;
  readonly guard: ConnectionGuard;
  readonly address: string;
  helloAs: string | undefined;
  /** The device this connection is counted for in the per-address limits. */
  countedAs: string | undefined;
}

/** Sockets that said an accepted hello: only they hear runStatus. */
export const DEVICE_ROOM = 'devices';

class GatewayRefusal extends Error {
  constructor(
    readonly code: ServerErrorCode,
    message: string,
    readonly disconnect = false,
  ) {
    super(message);
  }
}

export class DeviceGateway implements DeviceChannel {
  private engine: EngineHooks | undefined;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly limits: ConnectionLimits;
  // A milestone (state, round, run) goes to every device, on every node of a cluster; a count-only
  // update only to this node's own sockets, which its throttle is sized for. Sent cluster-wide,
  // every node's count updates reached every node's sockets: at 8,000 devices on 3 nodes, relaying
  // the other nodes' broadcasts took half of each node's loop and joins slowed to 20 per second.
  private readonly statusThrottle = new StatusThrottle(
    (status, milestone) => (milestone ? this.io : this.io.local).to(DEVICE_ROOM).emit('runStatus', status),
    { audience: () => this.io.engine.clientsCount },
  );
  private readonly addresses: AddressLimits;

  constructor(
    private readonly io: CoordinatorServer,
    private readonly deps: GatewayDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? (() => {});
    this.limits = connectionLimits(deps.limits);
    this.addresses = deps.addresses ?? new AddressLimits(this.limits);
    io.on('connection', this.onConnectionListener);
  }

  private readonly onConnectionListener = (socket: DeviceSocket): void => this.onConnection(socket);

  /**
   * Another run took over this process: new connections go to its gateway, and every device still
   * connected here is welcomed into the new run (the page starts over for it: new slot, new data).
   */
  retire(nextRunId: string): void {
    this.io.off('connection', this.onConnectionListener);
    this.statusThrottle.cancel();
    for (const socket of this.io.sockets.sockets.values()) {
      const device = this.deps.registry.bySocket(socket.id);
      if (!device) continue;
      socket.emit('welcome', { protocolVersion: PROTOCOL_VERSION, deviceId: device.deviceId, runId: nextRunId, task: this.deps.task });
    }
  }

  attachEngine(engine: EngineHooks): void {
    this.engine = engine;
  }

  sendWork(deviceId: string, assignment: ServerToDeviceWire['assignment'], adapter: ServerToDeviceWire['globalAdapter']): boolean {
    const socket = this.socketOf(deviceId);
    if (!socket) return false;
    socket.emit('assignment', assignment);
    socket.emit('globalAdapter', adapter);
    return true;
  }

  grantUpload(deviceId: string, grant: ServerToDeviceWire['uploadGrant']): void {
    this.socketOf(deviceId)?.emit('uploadGrant', grant);
  }

  /** Cluster: tells the device to reconnect to another node (its group's owner). False when it has no socket here. */
  redirect(deviceId: string, url: string, nodes: readonly string[], reason: string): boolean {
    const socket = this.socketOf(deviceId);
    if (!socket) return false;
    socket.emit('redirect', { url, nodes: [...nodes], reason });
    return true;
  }

  /**
   * To every socket, coalesced (status-throttle.ts): a changed state or round at once, an unchanged
   * status never, counts (a device joined or left) at most 4 per second, less often for a large fleet
   * and during rounds.
   */
  broadcastStatus(status: RunStatus): void {
    this.statusThrottle.push(status);
  }

  /**
   * Revokes a device: its connection is told why and closed, its work in flight is dropped, and
   * every later hello, join or upload as this device is refused. True when it was connected.
   */
  revoke(deviceId: string): boolean {
    const socketId = this.deps.registry.revoke(deviceId, this.now());
    this.log(`device ${deviceId} revoked`);
    this.engine?.deviceLeft(deviceId);
    const socket = socketId === null ? undefined : this.io.sockets.sockets.get(socketId);
    if (socket) {
      socket.emit('serverError', { code: 'revoked', message: `device ${deviceId} was revoked by the operator` });
      socket.disconnect(true);
    }
    if (this.engine) this.broadcastStatus(this.engine.status());
    return socket !== undefined;
  }

  private socketOf(deviceId: string): DeviceSocket | undefined {
    const socketId = this.deps.registry.get(deviceId)?.socketId;
    return socketId ? this.io.sockets.sockets.get(socketId) : undefined;
  }

  private onConnection(socket: DeviceSocket): void {
    const address = requestAddress(socket.handshake.address, socket.handshake.headers['x-forwarded-for'], this.limits.trustedProxies);
    const admitted = this.addresses.open(address);
    if (!admitted.ok) {
      this.log(`connection from ${address} refused: ${admitted.message}`);
      socket.emit('serverError', { code: 'too-many-connections', message: admitted.message });
      socket.disconnect(true);
      return;
    }
    const conn: Connection = { socket, guard: new ConnectionGuard(this.limits, this.now()), address, helloAs: undefined, countedAs: undefined };
    const helloTimer = setTimeout(() => {
      if (conn.helloAs !== undefined || !socket.connected) return;
      this.refuse(conn, new GatewayRefusal('not-joined', `no accepted "hello" within ${this.limits.helloTimeoutMs} ms`, true), 'hello');
    }, this.limits.helloTimeoutMs);
    helloTimer.unref?.();
    // One listener for every event, known or not, so the limits apply before anything else.
    socket.onAny((event: unknown, raw: unknown) => this.onPacket(conn, String(event), raw));
    // Socket.IO closes a connection whose frames do not parse; without a listener it prints a stack per frame.
    socket.on('error', (err) => this.log(`socket ${socket.id}: ${err.message}`));
    socket.on('disconnect', (reason) => {
      clearTimeout(helloTimer);
      this.addresses.close(address);
      if (conn.countedAs !== undefined) this.addresses.release(address, conn.countedAs);
      const device = this.deps.registry.disconnect(socket.id, this.now());
      if (!device) return;
      this.log(`device ${device.deviceId} disconnected (${reason})`);
      this.deps.state.touchDevice(this.deps.runId, device.deviceId, this.now());
      this.engine?.deviceLeft(device.deviceId);
      if (this.engine) this.broadcastStatus(this.engine.status());
    });
  }

  private onPacket(conn: Connection, event: string, raw: unknown): void {
    if (!conn.guard.admit(this.now())) {
      const { burst, perSecond } = this.limits;
      this.refuse(conn, new GatewayRefusal('rate-limited', `over ${burst} messages at once or ${perSecond} per second: message dropped`), event);
      return;
    }
    if (!isDeviceEvent(event)) {
      this.refuse(conn, new GatewayRefusal('invalid-message', `unknown event "${event.slice(0, 64)}"`), event);
      return;
    }
    // Before an accepted hello only "hello" is read: nothing else is even parsed.
    if (conn.helloAs === undefined && event !== 'hello') {
      this.refuse(conn, new GatewayRefusal('not-joined', `say "hello" on this connection before "${event}"`), event);
      return;
    }
    const parsed = parseDeviceMessage(event, raw);
    if (!parsed.ok) {
      this.refuse(conn, new GatewayRefusal('invalid-message', parsed.error), event);
      return;
    }
    const message = { event, msg: parsed.value } as DeviceMessage;
    if (message.event === 'hello' && this.deps.admission) {
      void this.admitInCluster(conn, message.msg).then(
        () => this.handle(conn, message, event),
        (err: unknown) => this.handleError(conn, err, event),
      );
      return;
    }
    this.handle(conn, message, event);
  }

  /** The cluster's verdict on a hello (credentials first: nothing is bound for a stranger). */
  private async admitInCluster(conn: Connection, msg: DeviceToServer['hello']): Promise<void> {
    this.checkCredentials(msg);
    const fleet = msg.dataMode === 'fleet' && this.deps.fleet.numPartitions > 0 ? { numPartitions: this.deps.fleet.numPartitions, newKey: randomBytes(18).toString('base64url') } : undefined;
    const verdict = await this.deps.admission!.admit(msg.deviceId, msg.deviceKey === undefined ? undefined : hashDeviceKey(msg.deviceKey), fleet);
    if (!verdict.ok) {
      if (verdict.code === 'revoked') throw new GatewayRefusal('revoked', `device ${msg.deviceId} was revoked by the operator`, true);
      if (verdict.code === 'bad-key') throw new GatewayRefusal('bad-token', `device ${msg.deviceId} is bound to another device key`, true);
      throw new GatewayRefusal('no-partition', `all ${this.deps.fleet.numPartitions} fleet partitions are taken by other devices`, true);
    }
    if (verdict.slot) this.deps.fleet.adopt(msg.deviceId, verdict.slot);
    if (!conn.socket.connected) throw new GatewayRefusal('not-joined', 'the connection closed during the hello');
  }

  private handle(conn: Connection, message: DeviceMessage, event: string): void {
    try {
      this.dispatch(conn, message);
    } catch (err) {
      this.handleError(conn, err, event);
    }
  }

  private handleError(conn: Connection, err: unknown, event: string): void {
    if (err instanceof GatewayRefusal) this.refuse(conn, err, event);
    else {
      this.log(`internal error on "${event}": ${(err as Error).stack ?? String(err)}`);
      this.refuse(conn, new GatewayRefusal('internal', 'internal error'), event);
    }
  }

  private dispatch(conn: Connection, m: DeviceMessage): void {
    const { socket } = conn;
    if (conn.helloAs !== undefined && this.deps.registry.isRevoked(conn.helloAs)) {
      throw new GatewayRefusal('revoked', `device ${conn.helloAs} was revoked by the operator`, true);
    }
    if (m.event !== 'hello' && conn.helloAs === undefined) {
      throw new GatewayRefusal('not-joined', `say "hello" on this connection before "${m.event}"`);
    }
    switch (m.event) {
      case 'hello':
        return this.onHello(conn, m.msg);
      case 'join':
        return this.onJoin(socket, m.msg);
      case 'progress': {
        const device = this.requireJoined(socket);
        if (m.msg.runId !== this.deps.runId) throw new GatewayRefusal('stale-round', `progress is for run ${m.msg.runId}; this run is ${this.deps.runId}`);
        this.deps.registry.setProgress(device, m.msg, this.now());
        return;
      }
      case 'uploadOffer': {
        const deviceId = this.requireJoined(socket);
        const verdict = this.requireEngine().offerUpload(deviceId, m.msg);
        if (!verdict.ok) throw new GatewayRefusal(verdict.code, verdict.message);
        return;
      }
      case 'upload':
        return this.onUpload(socket, m.msg);
      case 'deviceState': {
        const device = this.requireJoined(socket);
        const was = this.deps.registry.get(device)?.paused;
        this.deps.registry.setPaused(device, m.msg.paused ? (m.msg.reasons.length > 0 ? m.msg.reasons : ['user']) : undefined, this.now());
        if ((was !== undefined) !== m.msg.paused) this.log(`device ${device} ${m.msg.paused ? `paused (${m.msg.reasons.join(', ') || 'user'})` : 'resumed'}`);
        return;
      }
      case 'deviceError': {
        const device = this.deps.registry.bySocket(socket.id);
        const who = device?.deviceId ?? socket.id;
        this.log(`device ${who} reports ${m.msg.code}: ${m.msg.message}`);
        if (device) this.deps.registry.setError(device.deviceId, `${m.msg.code}: ${m.msg.message}`);
        return;
      }
    }
  }

  private checkCredentials(msg: { protocolVersion: number; token: string; deviceId: string }): void {
    if (msg.protocolVersion !== PROTOCOL_VERSION) {
      throw new GatewayRefusal('protocol-mismatch', `protocol version ${msg.protocolVersion}; this coordinator speaks ${PROTOCOL_VERSION}`, true);
    }
    if (!this.deps.invitesOnly && sameSecret(this.deps.token, msg.token)) return;
    if (this.deps.invites?.admits(msg.token, msg.deviceId)) return;
    throw new GatewayRefusal('bad-token', this.deps.invitesOnly ? 'not a valid invite for this device (this coordinator admits devices by invite only)' : 'wrong join token', true);
  }

  private onHello(conn: Connection, msg: DeviceToServer['hello']): void {
    const { socket } = conn;
    this.checkCredentials(msg);
    if (this.deps.registry.isRevoked(msg.deviceId)) {
      throw new GatewayRefusal('revoked', `device ${msg.deviceId} was revoked by the operator`, true);
    }
    if (conn.countedAs !== msg.deviceId) {
      const admitted = this.addresses.hello(conn.address, msg.deviceId, this.now());
      if (!admitted.ok) {
        this.log(`hello as ${msg.deviceId} from ${conn.address} refused: ${admitted.message}`);
        throw new GatewayRefusal('too-many-devices', admitted.message, true);
      }
      if (conn.countedAs !== undefined) this.addresses.release(conn.address, conn.countedAs);
      // Counted from here; a refusal below closes the connection, which releases it.
      conn.countedAs = msg.deviceId;
    }
    if (!this.deps.registry.admitsKey(msg.deviceId, msg.deviceKey)) {
      throw new GatewayRefusal('bad-token', `device ${msg.deviceId} is bound to another device key`, true);
    }
    let fleet;
    if (msg.dataMode === 'fleet') {
      fleet = this.deps.fleet.claim(msg.deviceId);
      if (!fleet && this.deps.fleet.numPartitions === 0) {
        throw new GatewayRefusal('no-partition', "this task has no training file, so there is no fleet data: choose 'Use my own file'", true);
      }
      if (!fleet) {
        throw new GatewayRefusal('no-partition', `all ${this.deps.fleet.numPartitions} fleet partitions are taken by other devices`, true);
      }
    }
    this.deps.registry.hello(msg.deviceId, socket.id, msg.dataMode, this.now());
    conn.helloAs = msg.deviceId;
    void socket.join(DEVICE_ROOM);
    socket.emit('welcome', {
      protocolVersion: PROTOCOL_VERSION,
      deviceId: msg.deviceId,
      runId: this.deps.runId,
      task: this.deps.task,
      ...(fleet ? { fleet } : {}),
    });
    if (this.engine) socket.emit('runStatus', this.engine.status());
  }

  private onJoin(socket: DeviceSocket, msg: Join): void {
    this.checkCredentials(msg);
    if (this.deps.registry.isRevoked(msg.deviceId)) {
      throw new GatewayRefusal('revoked', `device ${msg.deviceId} was revoked by the operator`, true);
    }
    const device = this.deps.registry.bySocket(socket.id);
    if (!device || device.deviceId !== msg.deviceId) {
      throw new GatewayRefusal('not-joined', `send "hello" as ${msg.deviceId} on this connection before "join"`);
    }
    const { task } = this.deps;
    if (msg.labelHistogram.length !== task.classNames.length) {
      throw new GatewayRefusal('invalid-message', `labelHistogram has ${msg.labelHistogram.length} classes; the task has ${task.classNames.length}`);
    }
    if (msg.profile.msPerStep.length !== task.numBlocks) {
      throw new GatewayRefusal('invalid-message', `profile.msPerStep has ${msg.profile.msPerStep.length} depths; the model has ${task.numBlocks} blocks`);
    }
    if (msg.dataMode !== device.dataMode) {
      throw new GatewayRefusal('invalid-message', `join says dataMode "${msg.dataMode}" but hello said "${device.dataMode}"`);
    }
    if (msg.dataMode === 'fleet') {
      const slot = this.deps.fleet.indexOf(msg.deviceId);
      if (slot === undefined || slot !== msg.partitionIndex) {
        throw new GatewayRefusal('invalid-message', `partitionIndex ${msg.partitionIndex} is not this device's fleet slot (${slot})`);
      }
      // The coordinator knows a fleet partition: a device in fleet mode weighs and groups by what
      // its partition really holds, never by its own claim.
      const real = this.deps.fleet.summary(slot, task.classNames.length);
      if (msg.numSamples !== real.numSamples) {
        throw new GatewayRefusal('invalid-message', `numSamples ${msg.numSamples} is not the size of fleet partition ${slot} (${real.numSamples})`);
      }
      if (msg.labelHistogram.some((c, i) => c !== real.labelHistogram[i])) {
        throw new GatewayRefusal('invalid-message', `labelHistogram is not the label histogram of fleet partition ${slot}`);
      }
    }
    const { token: _token, ...report } = msg;
    const { rejoin } = this.deps.registry.join(socket.id, msg, this.now());
    this.deps.state.recordJoin(this.deps.runId, msg.deviceId, msg.backend.name, report, this.now());
    this.log(`device ${msg.deviceId} ${rejoin ? 'rejoined' : 'joined'}: ${msg.backend.name}, ${msg.numSamples} samples`);
    const status = this.requireEngine().status();
    socket.emit('joined', { deviceId: msg.deviceId, rejoin, status });
    this.requireEngine().deviceRejoined(msg.deviceId);
    this.broadcastStatus(status);
  }

  private onUpload(socket: DeviceSocket, msg: Upload): void {
    const deviceId = this.requireJoined(socket);
    const verdict = this.requireEngine().acceptUpload(deviceId, msg);
    if (!verdict.ok) throw new GatewayRefusal(verdict.code, verdict.message);
    socket.emit('uploadAccepted', { runId: msg.runId, round: msg.round, intraRound: msg.intraRound, bytes: verdict.bytes });
  }

  private requireEngine(): EngineHooks {
    if (!this.engine) throw new Error('gateway used before attachEngine');
    return this.engine;
  }

  private requireJoined(socket: DeviceSocket): string {
    const device = this.deps.registry.bySocket(socket.id);
    if (!device || device.report === undefined) throw new GatewayRefusal('not-joined', 'join first');
    this.deps.registry.touch(device.deviceId, this.now());
    return device.deviceId;
  }

  private refuse(conn: Connection, refusal: GatewayRefusal, event: string): void {
    const { socket } = conn;
    if (!socket.connected) return;
    socket.emit('serverError', { code: refusal.code, message: refusal.message.slice(0, 2000), event: event.slice(0, 64) });
    if (refusal.disconnect) {
      socket.disconnect(true);
    } else if (conn.guard.strike(this.now())) {
      const { maxStrikes, strikeWindowMs } = this.limits;
      this.log(`closing socket ${socket.id}${conn.helloAs ? ` (device ${conn.helloAs})` : ''}: over ${maxStrikes} refused messages in ${strikeWindowMs} ms`);
      socket.emit('serverError', { code: 'too-many-errors', message: `over ${maxStrikes} refused messages within ${strikeWindowMs} ms: closing the connection` });
      socket.disconnect(true);
    }
  }
}
