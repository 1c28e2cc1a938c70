import { useCallback, useMemo, useState } from 'react';
import type { RunParams } from '../../src/dashboard/contract';
import { storeAdminToken } from './admin-token';
import { LmMetrics } from './components/LmMetrics';
import { AdminAccess } from './components/AdminAccess';
import { DeviceTable } from './components/DeviceTable';
import { GroupsPanel } from './components/GroupsPanel';
import { InvitePanel } from './components/InvitePanel';
import { JoinHelp } from './components/JoinHelp';
import { PastRuns } from './components/PastRuns';
import { RunCharts } from './components/RunCharts';
import { RunControls } from './components/RunControls';
import { RunInfo } from './components/RunInfo';
import { TaskInfo } from './components/TaskInfo';
import { Timeline } from './components/Timeline';
import { revokeDevice, startRun, stopRun, useDashboardConnection } from './connection';
import { usePastRuns } from './past-runs';

const ACTIVE_STATES = new Set(['waiting', 'running']);

export function App({ initialToken }: { initialToken: string | null }) {
  const [adminToken, setAdminToken] = useState(initialToken);
  const changeToken = useCallback((token: string | null) => {
    storeAdminToken(window.sessionStorage, token);
    setAdminToken(token);
  }, []);
  const forgetRefusedToken = useCallback(() => changeToken(null), [changeToken]);
  const { socket, state, connection, tokenRefused } = useDashboardConnection(adminToken, forgetRefusedToken);

  const runState = state?.status?.state ?? state?.run?.status ?? null;
  const pastRuns = usePastRuns(socket, connection === 'connected', state?.run?.id ?? null, runState);
  const [overlayIds, setOverlayIds] = useState<ReadonlySet<string>>(new Set());
  const overlay = useMemo(() => pastRuns.filter((s) => overlayIds.has(s.run.id)), [pastRuns, overlayIds]);
  const toggleOverlay = useCallback(
    (runId: string) =>
      setOverlayIds((ids) => {
        const next = new Set(ids);
        if (!next.delete(runId)) next.add(runId);
        return next;
      }),
    [],
  );

  const clockOffsetMs = useMemo(() => (state ? state.serverTime - Date.now() : 0), [state]);
  const admin = state?.admin === true && socket !== null;
  const onRevoke = useCallback((deviceId: string) => {
    if (socket && window.confirm(`Revoke device ${deviceId}? It will be disconnected and refused from now on.`)) void revokeDevice(socket, deviceId);
  }, [socket]);

  return (
    <div className="dashboard">
      <header className="top">
        <h1>tabfleet</h1>
        <span className={`pill ${connection}`} data-testid="connection">
          {connection}
        </span>
        {state ? <AdminAccess admin={state.admin} tokenRefused={tokenRefused} onToken={changeToken} /> : null}
      </header>
      {!state ? (
        <p className="muted">{connection === 'offline' ? 'Cannot reach the coordinator; retrying…' : 'Connecting to the coordinator…'}</p>
      ) : (
        <main>
          <div className="row">
            <RunInfo run={state.run} status={state.status} serverTime={state.serverTime} />
            <JoinHelp deviceUrl={state.deviceUrl} hasToken={state.deviceUrlHasToken} fingerprint={state.tlsFingerprint} />
            {admin && adminToken ? <InvitePanel adminToken={adminToken} /> : null}
          </div>
          {state.task ? <TaskInfo task={state.task} /> : null}
          {state.task?.objective === 'causal-lm' ? <LmMetrics task={state.task} run={state.run} rounds={state.rounds} {...(admin && adminToken ? { adminToken } : {})} /> : null}
          <RunCharts run={state.run} rounds={state.rounds} overlay={overlay} />
          <Timeline startedAt={state.run?.createdAt ?? state.serverTime} events={state.timeline} rounds={state.rounds} />
          <GroupsPanel groups={state.groups} classNames={state.classNames} globalDistribution={state.globalDistribution} numBlocks={state.numBlocks} />
          <DeviceTable devices={state.devices} clockOffsetMs={clockOffsetMs} onRevoke={admin ? onRevoke : undefined} />
          <PastRuns runs={pastRuns} selected={overlayIds} onToggle={toggleOverlay} />
          {admin && adminToken ? (
            <RunControls
              adminToken={adminToken}
              strategies={state.strategies}
              defaultParams={state.defaultParams as RunParams}
              run={state.run}
              running={runState !== null && ACTIVE_STATES.has(runState)}
              rounds={state.rounds}
              onStart={(params) => startRun(socket, params)}
              onStop={() => stopRun(socket)}
            />
          ) : null}
        </main>
      )}
    </div>
  );
}
