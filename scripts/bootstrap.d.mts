/** Path of a system Chromium/Chrome (CHROMIUM_PATH, CHROME_PATH, /usr/bin/chromium, …), if any. */
export function findChromium(): string | undefined;
