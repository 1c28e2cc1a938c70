/**
 * The page's Socket.IO connection: websocket only (binary stays binary), reconnects by itself,
 * validates every server message against its schema before anyone sees it.
 *
 * Several coordinators (README "Scale out"): a `redirect` moves the connection to the node that
 * owns this device's group (the session then says hello and joins there, as after any
 * reconnection); when that node stops answering, the connection tries the other nodes it was told.
 */
import { io } from 'socket.io-client';
import type { Socket } from 'socket.io-client';
import { parseServerMessage, SERVER_EVENTS } from './core';
import type { DeviceEvent, DeviceToServerEvents, DeviceToServerWire, ServerMessage, ServerToDeviceEvents } from './core';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

export interface ConnectionHandlers {
  /** Every (re)connection: the session introduces itself again. */
  onConnect(): void;
  onMessage(m: ServerMessage): void;
  onState(state: ConnectionState, detail?: string): void;
  /** A server message failed validation; it is dropped. */
  onInvalid(event: string, error: string): void;
}

/** Failed connection attempts to a redirected node before the next known node is tried. */
const ATTEMPTS_PER_NODE = 3;

export class Connection {
  private socket: Socket<ServerToDeviceEvents, DeviceToServerEvents>;
  /** The cluster's nodes as last told by a redirect (empty: one coordinator). */
  private nodes: string[] = [];
  private url: string;
  private failures = 0;

  constructor(
    url: string,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.url = url;
    handlers.onState('connecting');
    this.socket = this.open(url);
  }

  private open(url: string): Socket<ServerToDeviceEvents, DeviceToServerEvents> {
    const { handlers } = this;
    const socket: Socket<ServerToDeviceEvents, DeviceToServerEvents> = io(url, {
      transports: ['websocket'],
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      forceNew: true,
    });
    for (const event of SERVER_EVENTS) {
      socket.on(event, ((raw: unknown) => {
        if (socket !== this.socket) return;
        const parsed = parseServerMessage(event, raw);
        if (!parsed.ok) return handlers.onInvalid(event, parsed.error);
        const m = { event, msg: parsed.value } as ServerMessage;
        if (m.event === 'redirect') this.moveTo(m.msg.url, m.msg.nodes);
        else handlers.onMessage(m);
      }) as never);
    }
    socket.on('connect', () => {
      this.failures = 0;
      handlers.onState('connected');
      handlers.onConnect();
    });
    socket.on('disconnect', (reason) => {
      if (socket !== this.socket) return;
      // The server closed us on purpose (bad token, protocol mismatch): do not retry blindly.
      handlers.onState(reason === 'io server disconnect' ? 'offline' : 'reconnecting', reason);
    });
    socket.on('connect_error', (err) => {
      if (socket !== this.socket) return;
      handlers.onState('reconnecting', err.message);
      this.failures += 1;
      const others = this.nodes.filter((n) => n !== this.url);
      if (others.length > 0 && this.failures >= ATTEMPTS_PER_NODE) this.moveTo(others[Math.floor(Math.random() * others.length)]!, this.nodes);
    });
    return socket;
  }

  /** Leaves the current node for `url` (a redirect, or the current node is gone). */
  private moveTo(url: string, nodes: readonly string[]): void {
    if (nodes.length > 0) this.nodes = [...nodes];
    this.url = url;
    this.failures = 0;
    const old = this.socket;
    this.socket = this.open(url);
    old.close();
  }

  /**
   * Sends now, or not at all (false) while disconnected: Socket.IO would otherwise buffer the
   * message and flush it on reconnect before the session's hello, where the coordinator refuses
   * it. Work lost that way is sent again by the coordinator after the rejoin.
   */
  send<E extends DeviceEvent>(event: E, msg: DeviceToServerWire[E]): boolean {
    if (!this.socket.connected) return false;
    (this.socket.emit as (e: string, m: unknown) => void)(event, msg);
    return true;
  }

  /** Connects again after the coordinator closed the connection (it does so to sockets idle before hello). */
  reconnect(): void {
    if (!this.socket.connected) this.socket.connect();
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  close(): void {
    this.socket.close();
  }
}
