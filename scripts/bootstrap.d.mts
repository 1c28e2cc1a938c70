/** Path of a system Chromium/Chrome (CHROMIUM_PATH, CHROME_PATH, /usr/bin/chromium, …), if any. */
export function findChromium(): string | undefined;
/** Path of a redis-server binary (REDIS_SERVER, /usr/bin/redis-server, …), if any. */
export function findRedisServer(): string | undefined;
