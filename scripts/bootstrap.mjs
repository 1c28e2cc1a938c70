#!/usr/bin/env node
// First-command bootstrap: installs what a fresh clone lacks, so `npm run demo` and `npm test`
// work as the first command. `--browser` also makes sure a system Chromium exists (Debian: apt-get).
import { existsSync, statSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sh = (cmd) => execSync(cmd, { cwd: root, stdio: 'inherit' });

function ensureNodeModules() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000);
  if (!stale) return;
  console.log('[bootstrap] installing npm dependencies (npm ci)…');
  sh(existsSync(lock) ? 'npm ci --no-audit --no-fund' : 'npm install --no-audit --no-fund');
}

export function findChromium() {
  const candidates = [process.env.CHROMIUM_PATH, process.env.CHROME_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  return candidates.find((p) => p && existsSync(p));
}

function aptInstall(pkg, what) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!existsSync('/usr/bin/apt-get')) throw new Error(`No ${what} found and no apt-get to install it.`);
  console.log(`[bootstrap] installing Debian ${pkg} (apt-get)…`);
  const sudo = isRoot ? '' : 'sudo ';
  sh(`${sudo}apt-get update -qq && DEBIAN_FRONTEND=noninteractive ${sudo}apt-get install -y -qq ${pkg}`);
}

function ensureChromium() {
  if (findChromium()) return;
  if (!existsSync('/usr/bin/apt-get')) throw new Error('No Chromium found: set CHROMIUM_PATH to a Chromium/Chrome binary.');
  aptInstall('chromium', 'Chromium');
  if (!findChromium()) throw new Error('apt-get finished but /usr/bin/chromium is still missing');
}

/** The Redis server binary the multi-node tests and `--nodes` benchmarks start their own instance of. */
export function findRedisServer() {
  const candidates = [process.env.REDIS_SERVER, '/usr/bin/redis-server', '/usr/local/bin/redis-server'];
  return candidates.find((p) => p && existsSync(p));
}

function ensureRedis() {
  if (findRedisServer()) return;
  aptInstall('redis-server', 'redis-server (set REDIS_SERVER to its path)');
  if (!findRedisServer()) throw new Error('apt-get finished but /usr/bin/redis-server is still missing');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureNodeModules();
  if (process.argv.includes('--browser')) ensureChromium();
  if (process.argv.includes('--redis')) ensureRedis();
}
