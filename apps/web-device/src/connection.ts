/**
 * The page's Socket.IO connection: websocket only (binary stays binary), reconnects by itself,
 * validates every server message against its schema before anyone sees it.
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

export class Connection {
  private readonly socket: Socket<ServerToDeviceEvents, DeviceToServerEvents>;

  constructor(url: string, handlers: ConnectionHandlers) {
    this.socket = io(url, {
      transports: ['websocket'],
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    for (const event of SERVER_EVENTS) {
      this.socket.on(event, ((raw: unknown) => {
        const parsed = parseServerMessage(event, raw);
        if (parsed.ok) handlers.onMessage({ event, msg: parsed.value } as ServerMessage);
        else handlers.onInvalid(event, parsed.error);
      }) as never);
    }
    handlers.onState('connecting');
    this.socket.on('connect', () => {
      handlers.onState('connected');
      handlers.onConnect();
    });
    this.socket.on('disconnect', (reason) => {
      // The server closed us on purpose (bad token, protocol mismatch): do not retry blindly.
      handlers.onState(reason === 'io server disconnect' ? 'offline' : 'reconnecting', reason);
    });
    this.socket.on('connect_error', (err) => handlers.onState('reconnecting', err.message));
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
