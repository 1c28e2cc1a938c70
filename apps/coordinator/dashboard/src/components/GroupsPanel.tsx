/** One card per group: depth, intra-group frequency, divergence from the global labels, members. */
import { memo } from 'react';
import type { GroupView } from '../../../src/dashboard/contract';
import { shortId } from '../format';
import { LabelBars } from './LabelBars';

interface GroupsPanelProps {
  readonly groups: readonly GroupView[];
  readonly classNames: readonly string[];
  readonly globalDistribution: readonly number[];
  readonly numBlocks: number;
}

const MEMBERS_SHOWN = 12;

export const GroupsPanel = memo(function GroupsPanel({ groups, classNames, globalDistribution, numBlocks }: GroupsPanelProps) {
  return (
    <section className="card" aria-label="groups">
      <header className="panel-header">
        <h2>
          Groups <span className="muted">({groups.length})</span>
        </h2>
        <span className="muted legend">
          <i className="swatch primary" /> group labels <i className="swatch muted-swatch" /> all devices
        </span>
      </header>
      {groups.length === 0 ? <p className="muted">No plan yet: groups form when the first round starts.</p> : null}
      <div className="groups">
        {groups.map((g) => (
          <article key={g.groupId} className="group" data-testid="group-card" data-group-id={g.groupId}>
            <h3>{g.groupId}</h3>
            <dl className="compact">
              <dt>depth</dt>
              <dd>
                {g.depth} / {numBlocks}
              </dd>
              <dt>τ</dt>
              <dd title="intra-group aggregations per global round">{g.intraRounds} per round</dd>
              <dt>local steps</dt>
              <dd>{g.localSteps}</dd>
              <dt>JS divergence</dt>
              <dd>{g.divergence.toFixed(3)}</dd>
            </dl>
            <LabelBars classNames={classNames} group={g.labelDistribution} global={globalDistribution} />
            <p className="members" title={g.deviceIds.join('\n')}>
              {g.deviceIds.length} member{g.deviceIds.length === 1 ? '' : 's'}: {g.deviceIds.slice(0, MEMBERS_SHOWN).map(shortId).join(', ')}
              {g.deviceIds.length > MEMBERS_SHOWN ? ` and ${g.deviceIds.length - MEMBERS_SHOWN} more` : ''}
            </p>
          </article>
        ))}
      </div>
    </section>
  );
});
