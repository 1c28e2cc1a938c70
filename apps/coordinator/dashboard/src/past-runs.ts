/** The past runs list: fetched on connect and whenever the current run changes or ends. */
import { useEffect, useState } from 'react';
import type { RunSummary } from '../../src/dashboard/contract';
import type { DashboardSocket } from './connection';
import { listRuns } from './connection';

export function usePastRuns(socket: DashboardSocket | null, connected: boolean, currentRunId: string | null, currentRunState: string | null): RunSummary[] {
  const [runs, setRuns] = useState<RunSummary[]>([]);
  useEffect(() => {
    if (!socket || !connected) return undefined;
    let cancelled = false;
    void listRuns(socket).then((all) => {
      if (!cancelled) setRuns(all.filter((s) => s.run.id !== currentRunId).sort((a, b) => b.run.createdAt - a.run.createdAt));
    });
    return () => {
      cancelled = true;
    };
  }, [socket, connected, currentRunId, currentRunState]);
  return runs;
}
