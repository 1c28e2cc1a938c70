/**
 * Cluster-wide admission of a hello: revocations, device-key bindings (SHA-256 hashes) and fleet
 * slots live in Redis, and one Lua script per hello checks and claims them atomically. So a device
 * id bound on node A cannot be claimed with another key on node B, a device revoked on any node is
 * refused on every node, and two nodes never hand out the same fleet slot. The node's own registry
 * and FleetSlots then follow what the script decided (README "Scale out").
 */
import type { ClusterKeys } from './keys';
import type { RedisConnections } from './redis-client';

// KEYS: revoked set, key-hash hash (deviceId -> hash), slot hash (deviceId -> "index|key"),
// slot owner hash (index -> deviceId). ARGV: deviceId, keyHash ('' = none), wantSlot ('1'/'0'),
// numPartitions, a fresh slot key.
const ADMIT = `
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {'revoked'} end
local bound = redis.call('HGET', KEYS[2], ARGV[1])
if bound then
  if ARGV[2] ~= bound then return {'bad-key'} end
elseif ARGV[2] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
if ARGV[3] ~= '1' then return {'ok'} end
local slot = redis.call('HGET', KEYS[3], ARGV[1])
if slot then return {'ok', slot} end
for i = 0, tonumber(ARGV[4]) - 1 do
  if redis.call('HSETNX', KEYS[4], tostring(i), ARGV[1]) == 1 then
    local v = tostring(i) .. '|' .. ARGV[5]
    redis.call('HSET', KEYS[3], ARGV[1], v)
    return {'ok', v}
  end
end
return {'full'}`;

export type AdmitResult =
  | { readonly ok: true; readonly slot?: { readonly index: number; readonly key: string } }
  | { readonly ok: false; readonly code: 'revoked' | 'bad-key' | 'full' };

export class ClusterAdmission {
  constructor(
    private readonly redis: RedisConnections,
    private readonly keys: ClusterKeys,
    private readonly runId: string,
  ) {}

  async admit(deviceId: string, keyHash: string | undefined, fleet: { numPartitions: number; newKey: string } | undefined): Promise<AdmitResult> {
    const k = this.keys;
    const reply = (await this.redis.cmd.eval(ADMIT, {
      keys: [k.revoked, k.deviceKeys(this.runId), k.fleetSlots(this.runId), k.fleetSlotOwners(this.runId)],
      arguments: [deviceId, keyHash ?? '', fleet ? '1' : '0', String(fleet?.numPartitions ?? 0), fleet?.newKey ?? ''],
    })) as string[];
    const [code, slot] = reply;
    if (code === 'revoked' || code === 'bad-key' || code === 'full') return { ok: false, code };
    if (code !== 'ok') throw new Error(`cluster admission: unexpected reply ${JSON.stringify(reply)}`);
    if (slot === undefined) return { ok: true };
    const bar = slot.indexOf('|');
    return { ok: true, slot: { index: Number(slot.slice(0, bar)), key: slot.slice(bar + 1) } };
  }

  async revoke(deviceId: string): Promise<void> {
    await this.redis.cmd.sAdd(this.keys.revoked, deviceId);
  }

  async revokedIds(): Promise<string[]> {
    return this.redis.cmd.sMembers(this.keys.revoked);
  }
}
