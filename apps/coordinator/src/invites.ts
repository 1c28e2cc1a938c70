/**
 * Single-use invite links (issue 13): the admin issues N invite tokens; each admits one device.
 * An invite works as a join token for the first device id that says hello with it and for that
 * device only (it can reconnect and reload with it); the shared join token keeps working unless
 * the coordinator runs with --invites-only. Only SHA-256 hashes of invites are stored.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { CoordinatorState } from './state';

export const MAX_INVITES_PER_REQUEST = 1000;

export function hashInvite(invite: string): string {
  return createHash('sha256').update(invite, 'utf8').digest('base64url');
}

export class InviteBook {
  constructor(private readonly state: CoordinatorState) {}

  /** Issues `count` new invites; returns them (shown once: only their hashes are kept). */
  issue(count: number, now = Date.now()): string[] {
    if (!(Number.isInteger(count) && count >= 1 && count <= MAX_INVITES_PER_REQUEST)) {
      throw new Error(`count must be an integer in [1, ${MAX_INVITES_PER_REQUEST}], got ${count}`);
    }
    const invites = Array.from({ length: count }, () => `inv-${randomBytes(15).toString('base64url')}`);
    this.state.addInvites(invites.map(hashInvite), now);
    return invites;
  }

  /** Whether `token` is an invite this device may use; the first use binds it to `deviceId`. */
  admits(token: string, deviceId: string): boolean {
    if (!token.startsWith('inv-')) return false;
    return this.state.useInvite(hashInvite(token), deviceId);
  }

  counts(): { issued: number; used: number } {
    return this.state.inviteCounts();
  }
}
