/**
 * Invites in the dashboard (issue 13): the admin issues single-use invite links from the join
 * panel, each shown with its QR code; a device admitted by one is counted as used. Runs against the
 * shared coordinator (global-setup.ts); the invite's device only says hello, so the shared run is
 * not disturbed.
 */
import { expect, test } from '@playwright/test';
import { io as connectSocket } from 'socket.io-client';
import { PROTOCOL_VERSION } from '../packages/lora-core/src/protocol/messages';

const url = () => process.env.TABFLEET_URL!;
const adminToken = () => process.env.TABFLEET_ADMIN_TOKEN!;

async function inviteCounts(): Promise<{ issued: number; used: number }> {
  const res = await fetch(new URL('/api/admin/invites', url()), { headers: { Authorization: `Bearer ${adminToken()}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as { issued: number; used: number };
}

test('the admin issues invite links with QR codes from the dashboard; one admits a device and counts as used', async ({ browser }) => {
  test.setTimeout(90_000);
  const before = await inviteCounts();
  expect((await fetch(new URL('/api/admin/invites', url()))).status, 'no counts without the admin token').toBe(401);
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(new URL(`/dashboard/?admin=${encodeURIComponent(adminToken())}`, url()).toString());
    await expect(page.getByTestId('invite-counts')).toContainText(`${before.issued} issued, ${before.used} used`);
    // A bad count is refused on the page, nothing is issued.
    await page.getByTestId('invite-count').fill('0');
    await page.getByTestId('issue-invites').click();
    await expect(page.getByTestId('invite-error')).toContainText('whole number from 1 to 50');
    await page.getByTestId('invite-count').fill('2');
    await page.getByTestId('issue-invites').click();
    await expect(page.getByTestId('invite')).toHaveCount(2);
    await expect(page.getByTestId('invite-counts')).toContainText(`${before.issued + 2} issued, ${before.used} used`);
    const links = await page.getByTestId('invite-url').allTextContents();
    for (const link of links) expect(link).toMatch(/\?token=inv-[A-Za-z0-9_-]{20}$/);
    expect(new Set(links).size).toBe(2);
    // Each QR code is drawn (dark modules on the canvas), not an empty box.
    const dark = await page.getByTestId('invite-qr').evaluateAll((canvases) =>
      canvases.map((c) => {
        const canvas = c as unknown as { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } };
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i]! < 128) n += 1;
        return n / (data.length / 4);
      }),
    );
    for (const share of dark) expect(share).toBeGreaterThan(0.2);

    // The first link admits one device.
    const invite = new URL(links[0]!).searchParams.get('token')!;
    const socket = connectSocket(url(), { transports: ['websocket'], reconnection: false, forceNew: true });
    try {
      const answer = new Promise<string>((resolve) => {
        socket.once('welcome', () => resolve('welcome'));
        socket.once('serverError', (e: { code: string }) => resolve(e.code));
      });
      socket.emit('hello', { protocolVersion: PROTOCOL_VERSION, token: invite, deviceId: 'dev-invited-by-link', dataMode: 'own' });
      expect(await answer).toBe('welcome');
    } finally {
      socket.close();
    }
    expect(await inviteCounts()).toEqual({ issued: before.issued + 2, used: before.used + 1 });
    await expect(page.getByTestId('invite-counts')).toContainText(`${before.issued + 2} issued, ${before.used + 1} used`, { timeout: 15_000 });
  } finally {
    await context.close();
  }
});
