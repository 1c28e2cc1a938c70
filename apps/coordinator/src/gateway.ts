/**
 * The Socket.IO side of the coordinator: every device event is validated against its schema where
 * it enters, then handed to the registry, the state or the engine. No algorithm lives here.
 */
import type { Server, Socket } from 'socket.io';
import { DEVICE_EVENTS, isDeviceEvent, parseDeviceMessage, PROTOCOL_VERSION } from './core';
import type {
  DeviceEvent,
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
} from './core';
import type { DeviceChannel, UploadVerdict } from './engine/run-loop';
import type { FleetSlots } from './fleet-slots';
import { sameSecret } from './fleet-slots';
import type { DeviceRegistry } from './registry';
import type { CoordinatorState } from './state';

export type CoordinatorServer = Server<DeviceToServerEvents, ServerToDeviceEvents>;
type DeviceSocket = Socket<DeviceToServerEvents, ServerToDeviceEvents>;

/** What the gateway needs from the engine. */
export interface EngineHooks {
  acceptUpload(deviceId: string, upload: Upload): UploadVerdict;
  deviceLeft(deviceId: string): void;
  status(): RunStatus;
}

export interface GatewayDeps {
  readonly runId: string;
  readonly token: string;
  readonly task: TaskInfo;
  readonly registry: DeviceRegistry;
  readonly state: CoordinatorState;
  readonly fleet: FleetSlots;
  readonly now?: () => number;
  readonly log?: (line: string) => void;
}

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

  constructor(
    private readonly io: CoordinatorServer,
    private readonly deps: GatewayDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? (() => {});
    io.on('connection', (socket) => this.onConnection(socket));
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

  broadcastStatus(status: RunStatus): void {
    this.io.emit('runStatus', status);
  }

  private socketOf(deviceId: string): DeviceSocket | undefined {
    const socketId = this.deps.registry.get(deviceId)?.socketId;
    return socketId ? this.io.sockets.sockets.get(socketId) : undefined;
  }

  private onConnection(socket: DeviceSocket): void {
    for (const event of DEVICE_EVENTS) {
      socket.on(event, (raw: unknown) => this.onMessage(socket, event, raw));
    }
    socket.onAny((event: string) => {
      if (!isDeviceEvent(event)) this.refuse(socket, new GatewayRefusal('invalid-message', `unknown event "${event}"`), event);
    });
    socket.on('disconnect', (reason) => {
      const device = this.deps.registry.disconnect(socket.id, this.now());
      if (!device) return;
      this.log(`device ${device.deviceId} disconnected (${reason})`);
      this.deps.state.touchDevice(this.deps.runId, device.deviceId, this.now());
      this.engine?.deviceLeft(device.deviceId);
      if (this.engine) this.broadcastStatus(this.engine.status());
    });
  }

  private onMessage(socket: DeviceSocket, event: DeviceEvent, raw: unknown): void {
    const parsed = parseDeviceMessage(event, raw);
    if (!parsed.ok) {
      this.refuse(socket, new GatewayRefusal('invalid-message', parsed.error), event);
      return;
    }
    try {
      this.dispatch(socket, { event, msg: parsed.value } as DeviceMessage);
    } catch (err) {
      if (err instanceof GatewayRefusal) this.refuse(socket, err, event);
      else {
        this.log(`internal error on "${event}": ${(err as Error).stack ?? String(err)}`);
        this.refuse(socket, new GatewayRefusal('internal', 'internal error'), event);
      }
    }
  }

  private dispatch(socket: DeviceSocket, m: DeviceMessage): void {
    switch (m.event) {
      case 'hello':
        return this.onHello(socket, m.msg);
      case 'join':
        return this.onJoin(socket, m.msg);
      case 'progress': {
        const device = this.requireJoined(socket);
        this.deps.registry.setProgress(device, m.msg, this.now());
        return;
      }
      case 'upload':
        return this.onUpload(socket, m.msg);
      case 'deviceError': {
        const device = this.deps.registry.bySocket(socket.id);
        const who = device?.deviceId ?? socket.id;
        this.log(`device ${who} reports ${m.msg.code}: ${m.msg.message}`);
        if (device) this.deps.registry.setError(device.deviceId, `${m.msg.code}: ${m.msg.message}`);
        return;
      }
    }
  }

  private checkCredentials(msg: { protocolVersion: number; token: string }): void {
    if (msg.protocolVersion !== PROTOCOL_VERSION) {
      throw new GatewayRefusal('protocol-mismatch', `protocol version ${msg.protocolVersion}; this coordinator speaks ${PROTOCOL_VERSION}`, true);
    }
    if (!sameSecret(this.deps.token, msg.token)) throw new GatewayRefusal('bad-token', 'wrong join token', true);
  }

  private onHello(socket: DeviceSocket, msg: DeviceToServer['hello']): void {
    this.checkCredentials(msg);
    let fleet;
    if (msg.dataMode === 'fleet') {
      fleet = this.deps.fleet.claim(msg.deviceId);
      if (!fleet) {
        throw new GatewayRefusal('no-partition', `all ${this.deps.fleet.numPartitions} fleet partitions are taken by other devices`, true);
      }
    }
    this.deps.registry.hello(msg.deviceId, socket.id, msg.dataMode, this.now());
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
      if (slot !== msg.partitionIndex) {
        throw new GatewayRefusal('invalid-message', `partitionIndex ${msg.partitionIndex} is not this device's fleet slot (${slot})`);
      }
    }
    const { token: _token, ...report } = msg;
    const { rejoin } = this.deps.registry.join(socket.id, msg, this.now());
    this.deps.state.recordJoin(this.deps.runId, msg.deviceId, msg.backend.name, report, this.now());
    this.log(`device ${msg.deviceId} ${rejoin ? 'rejoined' : 'joined'}: ${msg.backend.name}, ${msg.numSamples} samples`);
    const status = this.requireEngine().status();
    socket.emit('joined', { deviceId: msg.deviceId, rejoin, status });
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

  private refuse(socket: DeviceSocket, refusal: GatewayRefusal, event: string): void {
    socket.emit('serverError', { code: refusal.code, message: refusal.message, event: event.slice(0, 64) });
    if (refusal.disconnect) socket.disconnect(true);
  }
}
