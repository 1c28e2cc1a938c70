import { defineConfig } from '@playwright/test';
import { CHROMIUM_FLAGS, requireChromium } from './scripts/fleet-lib';

// Real Chromium tabs against a real coordinator (started by tests/global-setup.ts). One worker:
// the machine has two cores and every tab trains a transformer.
export default defineConfig({
  testDir: 'tests',
  testMatch: '**/*.spec.ts',
  globalSetup: './tests/global-setup.ts',
  timeout: 6 * 60_000,
  expect: { timeout: 10_000 },
  workers: 1,
  fullyParallel: false,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: { executablePath: requireChromium(), args: [...CHROMIUM_FLAGS] },
    trace: 'retain-on-failure',
  },
});
