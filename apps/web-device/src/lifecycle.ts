/**
 * The tab's life on a real phone or laptop: the screen wake lock while training, the battery
 * (train only while charging), and whether another tab of this browser already is this device.
 */

export type WakeLockState = 'off' | 'held' | 'unsupported' | 'refused';

interface WakeLockSentinelLike extends EventTarget {
  readonly released: boolean;
  release(): Promise<void>;
}
interface WakeLockLike {
  request(type: 'screen'): Promise<WakeLockSentinelLike>;
}

/**
 * Holds the screen wake lock while `want(true)`. Browsers release it whenever the page is hidden;
 * it is requested again when the page becomes visible and is still wanted.
 */
export class WakeLockKeeper {
  private wanted = false;
  private sentinel: WakeLockSentinelLike | undefined;
  private requesting = false;
  private current: WakeLockState;

  constructor(private readonly onState: (s: WakeLockState, detail?: string) => void) {
    this.current = this.api() ? 'off' : 'unsupported';
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') void this.sync();
    });
  }

  get state(): WakeLockState {
    return this.current;
  }

  private api(): WakeLockLike | undefined {
    return (navigator as Navigator & { wakeLock?: WakeLockLike }).wakeLock;
  }

  want(on: boolean): void {
    if (this.wanted === on) return;
    this.wanted = on;
    void this.sync();
  }

  private set(s: WakeLockState, detail?: string): void {
    this.current = s;
    this.onState(s, detail);
  }

  private async sync(): Promise<void> {
    const api = this.api();
    if (!api) return;
    if (!this.wanted) {
      const s = this.sentinel;
      this.sentinel = undefined;
      if (s && !s.released) await s.release().catch(() => {});
      if (this.current !== 'off') this.set('off');
      return;
    }
    if ((this.sentinel && !this.sentinel.released) || this.requesting || document.visibilityState !== 'visible') return;
    this.requesting = true;
    try {
      const s = await api.request('screen');
      this.sentinel = s;
      s.addEventListener('release', () => {
        if (this.sentinel === s) {
          this.sentinel = undefined;
          this.set('off');
        }
      });
      if (!this.wanted) await this.sync();
      else this.set('held');
    } catch (err) {
      this.set('refused', (err as Error).message);
    } finally {
      this.requesting = false;
    }
  }
}

interface BatteryLike extends EventTarget {
  readonly charging: boolean;
  readonly level: number;
}

/** Calls `onChange(charging)` now and on every change; resolves false where the Battery Status API is missing. */
export async function watchCharging(onChange: (charging: boolean) => void): Promise<boolean> {
  const get = (navigator as Navigator & { getBattery?: () => Promise<BatteryLike> }).getBattery;
  if (typeof get !== 'function') return false;
  let battery: BatteryLike;
  try {
    battery = await get.call(navigator);
  } catch {
    return false;
  }
  onChange(battery.charging);
  battery.addEventListener('chargingchange', () => onChange(battery.charging));
  return true;
}

interface LockManagerLike {
  request(name: string, options: { ifAvailable: boolean }, cb: (lock: unknown) => Promise<void>): Promise<void>;
}

/**
 * Claims this device id for this tab, for as long as the tab lives. False when another tab of the
 * same browser (same localStorage, same device id) holds it. Web Locks where the browser has them
 * (secure contexts), else a BroadcastChannel roll call.
 */
export async function claimDeviceTab(deviceId: string): Promise<boolean> {
  const name = `tabfleet.device.${deviceId}`;
  const locks = (navigator as Navigator & { locks?: LockManagerLike }).locks;
  if (locks) {
    return new Promise<boolean>((resolve) => {
      void locks.request(name, { ifAvailable: true }, (lock) => {
        if (lock === null) {
          resolve(false);
          return Promise.resolve();
        }
        resolve(true);
        return new Promise<void>(() => {}); // held until the tab goes away
      });
    });
  }
  if (typeof BroadcastChannel !== 'function') return true;
  const channel = new BroadcastChannel(name);
  let taken = false;
  channel.onmessage = (e: MessageEvent<unknown>) => {
    if (e.data === 'who') channel.postMessage('here');
    else if (e.data === 'here') taken = true;
  };
  channel.postMessage('who');
  await new Promise((resolve) => setTimeout(resolve, 300));
  if (taken) channel.close();
  return !taken;
}
