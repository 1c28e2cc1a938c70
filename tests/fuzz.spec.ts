/**
 * Issue 5 acceptance: bad input gets a clear error and the global model is untouched. Run A is an
 * undisturbed FedLoRA run of real tabs; run B repeats it with the same seed while a fuzzer
 * (tests/support/fuzzer.ts) fires hundreds of malformed, out-of-turn, stale and replayed messages
 * at the same coordinator process from several sockets — two of them joined devices that get real
 * assignments and answer each with bad uploads only. The coordinator must stay up, answer every
 * message with the right serverError, and finish run B with run A's accuracy and loss, round by round.
 */
import { expect, test } from '@playwright/test';
import type { Browser, Page } from '@playwright/test';
import { startCoordinatorProcess } from '../scripts/coordinator-process';
import type { CoordinatorProcess } from '../scripts/coordinator-process';
import { decodeAdapter } from '../packages/lora-core/src/protocol/adapter-codec';
import { adamDeltaNormBound, blockL2Norms } from '../packages/lora-core/src/protocol/adapter-validation';
import { coordinatorStatus, openDevice, readView, waitForJoins } from './support/device-page';
import type { DeviceTab } from './support/device-page';
import { FUZZ_CATEGORIES } from './support/fuzz-messages';
import type { CapturedUpload } from './support/fuzz-messages';
import { startFuzzer } from './support/fuzzer';
import type { FuzzTally } from './support/fuzzer';

const DEVICES = 2;
const ROUNDS = 3;
const LOCAL_STEPS = 4;
const LR = 0.001;
const HEAD_LR = 0.03;
const ARGS = [
  '--strategy', 'fedlora',
  '--devices', String(DEVICES),
  '--rounds', String(ROUNDS),
  '--alpha', '0.5',
  '--seed', '11',
  '--max-per-class', '40',
  '--local-steps', String(LOCAL_STEPS),
  '--batch-size', '8',
  '--lr', String(LR),
  '--head-lr', String(HEAD_LR),
  // A worker that leaves mid-round is dropped at once instead of being waited for.
  '--rejoin-grace', '0',
];

interface RoundRow {
  round: number;
  participants: number;
  accuracy: number | null;
  loss: number | null;
}

interface StatusJson {
  status: { state: string; round: number };
  rounds: RoundRow[];
}

interface RunResult {
  readonly trajectory: Array<Pick<RoundRow, 'round' | 'participants' | 'accuracy' | 'loss'>>;
  /** Per captured real upload: L2 norm of each block. */
  readonly uploadNorms: Array<Record<string, number>>;
  readonly blockSizes: Record<string, number>;
  readonly tally?: FuzzTally;
  readonly tabErrors: Array<string | undefined>;
  readonly log: string;
  readonly ms: number;
}

/** Captures each upload a tab sends (Socket.IO: a text frame with a placeholder, then the binary frame). */
function captureUploads(page: Page, into: CapturedUpload[]): void {
  page.on('websocket', (ws) => {
    let pending: Record<string, unknown> | undefined;
    ws.on('framesent', ({ payload }) => {
      if (typeof payload === 'string') {
        const m = /^451-(\[.*\])$/s.exec(payload);
        const parsed = m ? (JSON.parse(m[1]!) as [string, Record<string, unknown>]) : undefined;
        pending = parsed?.[0] === 'upload' ? parsed[1] : undefined;
      } else if (pending) {
        into.push({ msg: { ...pending, payload: new Uint8Array(payload) } });
        pending = undefined;
      }
    });
  });
}

async function fleetRun(browser: Browser, fuzz: boolean): Promise<RunResult> {
  const started = Date.now();
  let coordinator: CoordinatorProcess | undefined;
  let fuzzer: ReturnType<typeof startFuzzer> | undefined;
  const tabs: DeviceTab[] = [];
  const uploads: CapturedUpload[] = [];
  try {
    coordinator = await startCoordinatorProcess(ARGS);
    const { url, token, runId } = coordinator;
    const maxHttpBufferSize = Number(/socket buffer (\d+) B/.exec(coordinator.output())?.[1]);
    expect(maxHttpBufferSize).toBeGreaterThan(0);
    if (fuzz) {
      fuzzer = startFuzzer({
        url,
        token,
        runId,
        numClasses: 20,
        numBlocks: 4,
        maxHttpBufferSize,
        seed: 5,
        workers: 2,
        replay: () => uploads[0],
      });
    }
    for (let i = 0; i < DEVICES; i++) {
      tabs.push(await openDevice(browser, { url, token, mode: 'fleet', backend: 'wasm', beforeLoad: (page) => captureUploads(page, uploads) }));
    }
    await Promise.all(tabs.map((t) => waitForJoins(t.page, 1)));
    await expect
      .poll(async () => (await coordinatorStatus<StatusJson>(url)).status.state, { timeout: 12 * 60_000, intervals: [2_000] })
      .toBe('finished');
    await fuzzer?.stop();
    const s = await coordinatorStatus<StatusJson>(url);
    // Still up after the run: the process has not exited and answers.
    expect(await Promise.race([coordinator.exited.then(() => 'exited'), new Promise((r) => setTimeout(() => r('up'), 500))])).toBe('up');
    const views = await Promise.all(tabs.map((t) => readView(t.page)));
    const first = uploads[0] ? decodeAdapter(uploads[0].msg.payload) : undefined;
    return {
      trajectory: s.rounds.map(({ round, participants, accuracy, loss }) => ({ round, participants, accuracy, loss })),
      uploadNorms: uploads.map((u) => Object.fromEntries(blockL2Norms(decodeAdapter(u.msg.payload)))),
      blockSizes: first ? Object.fromEntries([...first].map(([k, ts]) => [k, [...ts.values()].reduce((n, t) => n + t.data.length, 0)])) : {},
      ...(fuzzer ? { tally: fuzzer.tally } : {}),
      tabErrors: views.map((v) => v.error),
      log: coordinator.output(),
      ms: Date.now() - started,
    };
  } finally {
    await fuzzer?.stop().catch(() => {});
    for (const t of tabs) await t.context.close();
    await coordinator?.stop();
  }
}

function describeNorms(r: RunResult): string {
  const lines = Object.entries(r.blockSizes).map(([key, n]) => {
    const norms = r.uploadNorms.map((u) => u[key]!).filter((x) => x !== undefined);
    const bound = adamDeltaNormBound(key === 'head' ? HEAD_LR : LR, LOCAL_STEPS, n);
    return `  block ${key} (${n} values): ${norms.map((x) => x.toFixed(4)).join(' ')}  max/adam-bound ${(Math.max(...norms) / bound).toFixed(3)} (bound ${bound.toFixed(4)})`;
  });
  return lines.join('\n');
}

test('a fuzzed run is answered message by message and ends exactly where the undisturbed run ends', async ({ browser }) => {
  test.setTimeout(30 * 60_000);
  const a = await fleetRun(browser, false);
  const b = await fleetRun(browser, true);
  const t = b.tally!;
  console.log(`run A ${(a.ms / 1000).toFixed(0)} s: ${a.trajectory.map((r) => `${r.round}:${r.accuracy}/${r.loss}`).join(' ')}`);
  console.log(`run B ${(b.ms / 1000).toFixed(0)} s: ${b.trajectory.map((r) => `${r.round}:${r.accuracy}/${r.loss}`).join(' ')}`);
  console.log(`honest upload norms (run A, ${a.uploadNorms.length} uploads):\n${describeNorms(a)}`);
  console.log(`fuzz sent ${JSON.stringify(t.sent)}`);
  console.log(`fuzz answered as expected ${JSON.stringify(t.answered)}`);
  console.log(`serverError codes ${JSON.stringify(t.codes)}`);
  console.log(
    `raw frames closed ${t.rawClosed}/${t.rawAttempts}, oversized closed ${t.oversizedClosed}/${t.oversizedAttempts}, ` +
      `floods closed ${t.floodClosed}/${t.floodAttempts} (${t.floodRateLimited} rate-limited answers), worker assignments ${t.workerAssignments}`,
  );

  // Every fuzz message was answered, with a code that names its fault; every category was exercised.
  expect(t.wrong).toEqual([]);
  expect(t.unanswered).toEqual([]);
  for (const c of FUZZ_CATEGORIES) {
    expect(t.sent[c], `category ${c}`).toBeGreaterThan(0);
    expect(t.answered[c], `category ${c}`).toBe(t.sent[c]);
  }
  expect(Object.values(t.sent).reduce((x, y) => x + y, 0)).toBeGreaterThan(300);
  expect(t.codes.internal ?? 0).toBe(0);
  expect(t.workerAssignments).toBeGreaterThanOrEqual(2);
  expect(t.rawAttempts).toBeGreaterThan(0);
  expect(t.rawClosed).toBe(t.rawAttempts);
  expect(t.oversizedAttempts).toBeGreaterThan(0);
  expect(t.oversizedClosed).toBe(t.oversizedAttempts);
  expect(t.floodAttempts).toBeGreaterThan(0);
  expect(t.floodClosed).toBe(t.floodAttempts);
  expect(t.floodRateLimited).toBeGreaterThan(0);
  expect(b.log).not.toMatch(/internal error|run failed|Missing error handler/);

  // The real tabs never saw an error, and only they contributed to each round.
  expect(b.tabErrors).toEqual(new Array(DEVICES).fill(undefined));
  for (const r of b.trajectory.filter((x) => x.round >= 1)) expect(r.participants).toBe(DEVICES);

  // The global model is untouched: the same trajectory as the undisturbed run, to the last bit.
  expect(a.trajectory.map((r) => r.round)).toEqual(Array.from({ length: ROUNDS + 1 }, (_, i) => i));
  expect(b.trajectory).toEqual(a.trajectory);
  expect(a.trajectory.at(-1)!.accuracy!).toBeGreaterThan(a.trajectory[0]!.accuracy!);
});
