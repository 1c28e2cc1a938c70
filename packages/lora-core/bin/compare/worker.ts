/** A training worker of the compare CLI: loads the task once, then serves train / evaluate / measure requests one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { loadTask, type TaskSetting } from './setup';
import type { WorkerReply, WorkerRequest } from './messages';

const port = parentPort;
if (port === null) throw new Error('worker.ts must run as a worker thread');
const send = (m: WorkerReply) => port.postMessage(m);

try {
  const { trainer } = await loadTask(workerData as TaskSetting);
  port.on('message', (req: WorkerRequest) => {
    const work =
      req.kind === 'train'
        ? trainer.train(req.job)
        : req.kind === 'evaluate'
          ? trainer.evaluate(req.adapter, req.start, req.end)
          : trainer.measureMsPerStep(req.rows, req.runs, req.warmup);
    work.then(
      (result) => send({ kind: 'done', id: req.id, result, prefix: trainer.prefixCacheStats }),
      (e: unknown) => send({ kind: 'error', id: req.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  });
  send({ kind: 'ready' });
} catch (e) {
  send({ kind: 'failed', error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
}
