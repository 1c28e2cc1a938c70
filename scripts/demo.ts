/**
 * `npm run demo`: the main job on the embedded defaults. Until the federated engine lands this runs
 * the centralized LoRA baseline in quick mode (same model, data and training step the devices use).
 */
import { spawnSync } from 'node:child_process';

const r = spawnSync(process.execPath, ['--import', 'tsx', 'packages/lora-core/bin/centralized.ts', '--quick', ...process.argv.slice(2)], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
