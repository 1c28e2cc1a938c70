/**
 * Starts the shared coordinator for the end-to-end specs (a real process on a free port) and
 * hands its URL and join token to the workers through the environment. Small WordNet slice and
 * few local steps, so a round takes seconds on two cores.
 */
import { startCoordinatorProcess } from '../scripts/coordinator-process';

export const SHARED_DEVICES = 2;

export default async function globalSetup(): Promise<() => Promise<void>> {
  const coordinator = await startCoordinatorProcess([
    '--devices', String(SHARED_DEVICES),
    '--rounds', '3',
    '--max-per-class', '40',
    '--local-steps', '2',
    '--batch-size', '8',
  ]);
  process.env.TABFLEET_URL = coordinator.url;
  process.env.TABFLEET_TOKEN = coordinator.token;
  process.env.TABFLEET_ADMIN_TOKEN = coordinator.adminToken;
  return async () => {
    await coordinator.stop();
  };
}
