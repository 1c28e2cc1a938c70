/**
 * The admin token: taken once from `?admin=TOKEN` (then kept in sessionStorage and removed from the
 * address bar, so it does not linger in history or screenshots) or typed into the page.
 */
const STORAGE_KEY = 'tabfleet.dashboard.adminToken';

/** The parts of window.location, window.history and sessionStorage used here (unit tests pass fakes). */
export interface PageAddress {
  readonly href: string;
}
export interface PageHistory {
  readonly state: unknown;
  replaceState(data: unknown, unused: string, url: string): void;
}
export interface TokenStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function takeAdminTokenFromUrl(location: PageAddress, history: PageHistory, storage: TokenStorage): string | null {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('admin');
  if (fromUrl !== null) {
    url.searchParams.delete('admin');
    history.replaceState(history.state, '', url.pathname + url.search + url.hash);
    if (fromUrl !== '') storage.setItem(STORAGE_KEY, fromUrl);
  }
  return storage.getItem(STORAGE_KEY);
}

export function storeAdminToken(storage: TokenStorage, token: string | null): void {
  if (token) storage.setItem(STORAGE_KEY, token);
  else storage.removeItem(STORAGE_KEY);
}
