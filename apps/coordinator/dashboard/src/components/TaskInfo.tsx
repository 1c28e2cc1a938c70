/** The process's task: name, labels, training and evaluation sizes (or "no evaluation set"). */
import { memo } from 'react';
import type { TaskView } from '../../../src/dashboard/contract';

const EVAL_SOURCE: Record<TaskView['evalSource'], string> = {
  file: 'eval file',
  holdout: 'seeded stratified holdout of the training file',
  none: 'no evaluation set',
};

export const TaskInfo = memo(function TaskInfo({ task }: { readonly task: TaskView }) {
  return (
    <section className="card" aria-label="task" data-testid="task-info">
      <h2>
        Task <span className="mono" data-testid="task-name">{task.name}</span>
      </h2>
      <dl className="summary">
        <dt>labels ({task.classNames.length})</dt>
        <dd data-testid="task-labels">{task.classNames.join(', ')}</dd>
        <dt>training rows</dt>
        <dd data-testid="task-train-rows">{task.trainRows > 0 ? task.trainRows : 'none (own-data devices only)'}</dd>
        <dt>evaluation</dt>
        <dd data-testid="task-eval">
          {task.evalSource === 'none'
            ? 'no evaluation set'
            : `${EVAL_SOURCE[task.evalSource]}: ${task.evalRows} rows, ${task.evalScoredRows === task.evalRows ? 'all' : `a seeded stratified sample of ${task.evalScoredRows}`} scored per round`}
        </dd>
        <dt>model</dt>
        <dd>
          {task.model} · {task.objective}
        </dd>
        <dt>source</dt>
        <dd className="mono">
          {task.origin} <span className="muted">({task.hash.slice(0, 12)})</span>
        </dd>
      </dl>
    </section>
  );
});
