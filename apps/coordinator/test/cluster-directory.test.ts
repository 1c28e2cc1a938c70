/**
 * The device directory on a real redis-server: what a node publishes for the leader's planner, and
 * that a write serializes only the devices that changed (not the whole fleet on every join).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DeviceDirectory, readClusterDevices } from '../src/cluster/device-directory';
import { ClusterKeys } from '../src/cluster/keys';
import { connectRedis } from '../src/cluster/redis-client';
import type { RedisConnections } from '../src/cluster/redis-client';
import { PROTOCOL_VERSION } from '../src/core';
import { DeviceRegistry } from '../src/registry';
import { startRedis } from '../../../scripts/cluster-fleet/harness';
import type { RedisProcess } from '../../../scripts/cluster-fleet/harness';

let redis: RedisProcess;
let conn: RedisConnections;
const keys = new ClusterKeys('directory');
const RUN = 'run-directory';

function join(registry: DeviceRegistry, i: number): void {
  const deviceId = `dir-device-${String(i).padStart(4, '0')}`;
  registry.hello(deviceId, `socket-${i}`, 'own', 0);
  registry.join(
    `socket-${i}`,
    {
      protocolVersion: PROTOCOL_VERSION,
      token: 't',
      deviceId,
      dataMode: 'own',
      backend: { name: 'cpu', forced: true, benchmarkMs: { cpu: 20 } },
      profile: { msPerStep: [10 + i, 20 + i], uploadBytesPerSec: 1e6, memoryBytes: 1e9 },
      labelHistogram: [i, 1],
      numSamples: i + 1,
    },
    0,
  );
}

describe('cluster device directory', () => {
  before(async () => {
    redis = await startRedis();
    conn = await connectRedis(redis.url, () => {});
  });
  after(async () => {
    await conn?.close();
    await redis?.stop();
  });

  it('publishes the joined devices and, on each later write, serializes only the ones that changed', async () => {
    const registry = new DeviceRegistry();
    for (let i = 0; i < 200; i++) join(registry, i);
    const directory = new DeviceDirectory(conn, keys, 'n1', () => {});
    directory.attach(RUN, registry);
    await directory.flush();
    assert.equal(directory.serialized, 200);
    // No 2 s full comparison from here on: every write below is a delta of the changes the registry named.
    directory.stop();
    const read = async () => readClusterDevices(conn, keys, RUN, (id) => id === 'n1');
    let devices = await read();
    assert.equal(devices.length, 200);
    assert.deepEqual(devices[7]!.info, { id: 'dir-device-0007', numSamples: 8, labelHistogram: [7, 1], profile: { msPerStep: [17, 27], uploadBytesPerSec: 1e6, memoryBytes: 1e9 } });
    assert.equal(await conn.cmd.get(keys.deviceCount(RUN, 'n1')), '200');

    // One more join: one entry serialized, not 201, and (no full comparison due) only the devices the registry named were looked at.
    const compared = directory.compared;
    join(registry, 200);
    await directory.flush();
    assert.equal(directory.serialized, 201);
    assert.ok(directory.compared - compared <= 2, `looked at ${directory.compared - compared} devices for one join`);
    // A pause changes that device's entry only.
    registry.setPaused('dir-device-0003', ['hidden'], 1);
    await directory.flush();
    assert.equal(directory.serialized, 202);
    devices = await read();
    assert.equal(devices.length, 201);
    assert.equal(devices.find((d) => d.info.id === 'dir-device-0003')!.paused, true);
    assert.equal(devices.filter((d) => d.paused).length, 1);
    // A disconnect removes it; a rejoin (a new report) writes it again.
    registry.disconnect('socket-5', 2);
    await directory.flush();
    assert.equal((await read()).length, 200);
    assert.equal(await conn.cmd.get(keys.deviceCount(RUN, 'n1')), '200');
    join(registry, 5);
    await directory.flush();
    assert.equal(directory.serialized, 203);
    assert.equal((await read()).length, 201);
    directory.stop();
  });
});
