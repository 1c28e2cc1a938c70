/**
 * A simulated device's upload as the page sends it: offered first (uploadOffer), sent when the
 * coordinator grants it (uploadGrant, engine/upload-gate.ts). Shared by the bench's devices and the
 * cluster fleet's.
 */
import { parseServerMessage } from '../packages/lora-core/src/protocol/messages';
import type { DeviceToServerWire } from '../packages/lora-core/src/protocol/messages';

interface UploadSocket {
  emit(event: string, msg: unknown): unknown;
  on(event: 'uploadGrant', listener: (raw: unknown) => void): unknown;
}

/** Offers `upload` on `socket` and sends it on the matching grant; a newer offer replaces an unsent one. */
export class OfferedUpload {
  private offered: DeviceToServerWire['upload'] | undefined;

  constructor(private readonly socket: UploadSocket) {
    socket.on('uploadGrant', (raw) => {
      const p = parseServerMessage('uploadGrant', raw);
      const u = this.offered;
      if (!p.ok || !u || p.value.runId !== u.runId || p.value.round !== u.round || p.value.intraRound !== u.intraRound) return;
      this.offered = undefined;
      socket.emit('upload', u);
    });
  }

  offer(upload: DeviceToServerWire['upload'] & { readonly payload: Uint8Array }): void {
    this.offered = upload;
    const { runId, round, intraRound, groupId, payload } = upload;
    this.socket.emit('uploadOffer', { runId, round, intraRound, groupId, bytes: payload.byteLength });
  }
}
