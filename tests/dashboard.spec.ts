/**
 * The issue-6 acceptance run: the dashboard watches a real HierFedLoRA fleet. A real coordinator
 * process, two real device tabs training three rounds, and the admin dashboard open the whole time:
 * device rows show backend and status, the groups show their label bar charts, the accuracy chart
 * gains points as rounds complete (live, without reloading), and a full-page screenshot of the real
 * run is saved as a test artifact. A second, read-only dashboard hides the controls and the join
 * token, and the coordinator refuses admin actions without the admin token. Finally the admin starts
 * another run from the form: the tabs are welcomed into it and train it, and the first run can be
 * overlaid on the charts as a past run.
 */
import { readFile } from 'node:fs/promises';
import { expect, test } from '@playwright/test';
import type { Page } from '@playwright/test';
import { io as connectSocket } from 'socket.io-client';
import { startCoordinatorProcess, type CoordinatorProcess } from '../scripts/coordinator-process';
import { openDevice, waitForJoins, type DeviceTab } from './support/device-page';

const DEVICES = 2;
const GROUPS = 2;
const ROUNDS = 3;

const accuracyPoints = async (page: Page): Promise<number> =>
  Number(await page.getByTestId('accuracy-chart').getAttribute('data-points'));

test('the dashboard follows a real HierFedLoRA fleet live; read-only viewers get no controls and no join token', async ({ browser }, testInfo) => {
  test.setTimeout(15 * 60_000);
  let coordinator: CoordinatorProcess | undefined;
  const tabs: DeviceTab[] = [];
  try {
    coordinator = await startCoordinatorProcess([
      '--strategy', 'hierfedlora',
      '--devices', String(DEVICES),
      '--groups', String(GROUPS),
      '--rounds', String(ROUNDS),
      '--alpha', '0.5',
      '--max-per-class', '40',
      '--local-steps', '4',
      '--batch-size', '8',
      '--head-lr', '0.03',
    ], process.env.TABFLEET_E2E_VERBOSE ? { onOutput: (text) => process.stdout.write(text) } : {});
    const { url, token, adminToken } = coordinator;

    // The admin dashboard, open before any device joins.
    const adminContext = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const dashboard = await adminContext.newPage();
    await dashboard.goto(new URL(`/dashboard/?admin=${encodeURIComponent(adminToken)}`, url).toString());
    await expect(dashboard.getByTestId('admin-badge')).toBeVisible();
    expect(dashboard.url(), 'the admin token leaves the address bar').not.toContain(adminToken);
    await expect(dashboard.getByTestId('run-controls')).toBeVisible();
    await expect(dashboard.getByTestId('device-url')).toContainText(`token=${token}`);
    await expect(dashboard.getByTestId('run-strategy')).toHaveText('hierfedlora');

    // wasm is forced to keep the fleet quick; one tab at a time so profiles are not measured against each other.
    for (let i = 0; i < DEVICES; i++) {
      const tab = await openDevice(browser, { url, token, mode: 'fleet', backend: 'wasm' });
      tabs.push(tab);
      await waitForJoins(tab.page, 1);
    }

    const rows = dashboard.getByTestId('device-row');
    await expect(rows).toHaveCount(DEVICES, { timeout: 30_000 });
    for (const row of await rows.all()) {
      await expect(row.getByTestId('device-backend')).toHaveText('wasm');
      await expect(row.getByTestId('device-status')).toHaveText(/^(training|idle)$/);
    }

    const firstBytes = await rows.first().getByTestId('device-bytes').textContent();

    const groups = dashboard.getByTestId('group-card');
    await expect(groups).toHaveCount(GROUPS, { timeout: 120_000 });
    for (const group of await groups.all()) await expect(group.getByTestId('label-bars').locator('canvas')).toBeVisible();
    await expect(dashboard.getByTestId('label-bars').first()).toHaveAttribute('data-bars', /^[1-9]\d*$/);

    // Round 0 (the initial evaluation) gives the first point; each completed round adds one, live.
    const seen: number[] = [];
    await expect.poll(async () => accuracyPoints(dashboard), { timeout: 60_000 }).toBeGreaterThanOrEqual(1);
    seen.push(await accuracyPoints(dashboard));
    while ((seen.at(-1) as number) < ROUNDS + 1) {
      const before = seen.at(-1) as number;
      await expect.poll(async () => accuracyPoints(dashboard), { timeout: 8 * 60_000, intervals: [1_000] }).toBeGreaterThan(before);
      seen.push(await accuracyPoints(dashboard));
    }
    console.log(`accuracy chart points as rounds completed: ${seen.join(' → ')}`);
    expect(seen.length, 'the chart grew while the page stayed open').toBeGreaterThan(1);
    expect(seen.at(-1)).toBe(ROUNDS + 1);
    await expect(dashboard.getByTestId('run-round')).toHaveText(`${ROUNDS} / ${ROUNDS}`, { timeout: 60_000 });
    await expect(dashboard.getByTestId('timeline-chart')).toHaveAttribute('data-events', /^[1-9]\d*$/);
    for (const row of await rows.all()) await expect(row.getByTestId('device-bytes'), 'every device uploaded deltas').not.toHaveText(/^0 B/);
    await expect(rows.first().getByTestId('device-bytes'), 'the row updated in place').not.toHaveText(firstBytes ?? '');

    const screenshot = testInfo.outputPath('dashboard.png');
    await dashboard.screenshot({ path: screenshot, fullPage: true });
    await testInfo.attach('dashboard', { path: screenshot, contentType: 'image/png' });

    // The admin exports the final global adapter: a download of the adapter codec's bytes.
    const [download] = await Promise.all([dashboard.waitForEvent('download'), dashboard.getByRole('button', { name: 'Export adapter' }).click()]);
    const exported = await readFile(await download.path());
    expect(download.suggestedFilename()).toMatch(/\.tfad$/);
    expect(exported.subarray(0, 4).toString('latin1')).toBe('TFAD');
    await expect(dashboard.getByTestId('controls-message')).toContainText('Saved');

    // A read-only viewer: no controls, no revoke buttons, no join token anywhere on the page.
    const viewerContext = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const viewer = await viewerContext.newPage();
    await viewer.goto(new URL('/dashboard/', url).toString());
    await expect(viewer.getByTestId('read-only-notice')).toBeVisible();
    await expect(viewer.getByTestId('device-row')).toHaveCount(DEVICES);
    await expect(viewer.getByTestId('run-controls')).toHaveCount(0);
    await expect(viewer.getByRole('button', { name: 'revoke' })).toHaveCount(0);
    await expect(viewer.getByTestId('device-url')).not.toContainText('token=');
    expect(await viewer.content()).not.toContain(token);
    const exportStatus = await viewer.evaluate(async () => (await fetch('/api/admin/adapter')).status);
    expect(exportStatus, 'the adapter export needs the admin token').toBe(401);

    // A wrong token is refused and the page stays read-only.
    await viewer.getByLabel('admin token').fill('not-the-admin-token');
    await viewer.getByRole('button', { name: 'Unlock' }).click();
    await expect(viewer.getByText('The admin token was refused.')).toBeVisible();
    await expect(viewer.getByTestId('run-controls')).toHaveCount(0);

    // An admin action over a socket without the admin token (what the read-only page holds) is refused.
    const socket = connectSocket(new URL('/dashboard', url).toString(), { transports: ['websocket'], reconnection: false });
    try {
      const refused = await socket.timeout(10_000).emitWithAck('stopRun');
      expect(refused).toEqual({ ok: false, error: 'admin token required' });
    } finally {
      socket.disconnect();
    }
    await viewerContext.close();

    // The admin starts another run from the form: the connected tabs are welcomed into it, start
    // over (new fleet slots, new profile), and train it; the first run becomes a past run that can
    // be overlaid on the charts.
    const firstRunId = (await dashboard.getByTestId('run-id').textContent({ timeout: 10_000 }))?.trim();
    const controls = dashboard.getByTestId('run-controls');
    await controls.locator('label', { hasText: /^strategy/ }).locator('select').selectOption('fedlora', { timeout: 10_000 });
    await controls.locator('label', { hasText: /^rounds$/ }).locator('input').fill('1', { timeout: 10_000 });
    await controls.getByRole('button', { name: 'Start run' }).click({ timeout: 10_000 });
    await expect(dashboard.getByTestId('run-strategy')).toHaveText('fedlora', { timeout: 30_000 });
    await expect(dashboard.getByTestId('run-id')).not.toHaveText(firstRunId ?? '');
    await expect(dashboard.getByTestId('run-round')).toHaveText('1 / 1', { timeout: 6 * 60_000 });
    await expect(dashboard.getByTestId('device-row')).toHaveCount(DEVICES);
    const past = dashboard.getByRole('region', { name: 'past runs' }).getByRole('checkbox');
    await expect(past).toHaveCount(1);
    await past.check();
    await expect(dashboard.getByTestId('accuracy-chart')).toHaveAttribute('data-overlays', '1');
    await expect(dashboard.getByTestId('accuracy-chart')).toHaveAttribute('data-points', '2');
    await adminContext.close();
  } finally {
    for (const t of tabs) await t.context.close();
    await coordinator?.stop();
  }
});
