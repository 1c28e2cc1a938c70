import { useSyncExternalStore } from 'react';
import type { DeviceSession } from './device-session';
import { DataChooser } from './ui/DataChooser';
import { DeviceControls } from './ui/DeviceControls';
import { EnvironmentNotice } from './ui/EnvironmentNotice';
import { StatusPanel } from './ui/StatusPanel';
import { TrainingPanel } from './ui/TrainingPanel';

export function App({ session }: { session: DeviceSession }) {
  const view = useSyncExternalStore(
    (onChange) => session.subscribe(onChange),
    () => session.view,
  );
  return (
    <main
      className="device"
      data-testid="device"
      data-device-id={view.deviceId}
      data-phase={view.phase}
      data-connection={view.connection}
      data-backend={view.backend?.name ?? ''}
      data-joins={view.joins}
      data-paused={view.paused.join(' ')}
      data-wake-lock={view.wakeLock}
    >
      <header>
        <h1>tabfleet</h1>
        <span className={`pill ${view.connection}`} data-testid="connection">
          {view.connection}
        </span>
      </header>
      {view.poison && (
        <p className="error" role="alert" data-testid="poison-warning">
          Attack emulation: this tab poisons the run, uploading its deltas multiplied by {view.poison.kind === 'scale' ? '' : '−'}
          {view.poison.factor} (?poison={view.poison.kind}:{view.poison.factor}). For testing robust aggregation only.
        </p>
      )}
      <EnvironmentNotice view={view} />
      <StatusPanel view={view} />
      {view.phase === 'choosing-data' && view.task === undefined && view.mode === undefined && (
        <DataChooser onMode={(m) => session.chooseMode(m)} onFile={undefined} classNames={undefined} />
      )}
      {view.phase === 'choosing-data' && view.mode === 'own' && view.task !== undefined && (
        <DataChooser
          onMode={undefined}
          onFile={(f) => session.provideFile(f)}
          classNames={view.task.classNames}
          mismatch={view.labelMismatch}
          onUseKnownRows={() => session.useKnownRows()}
        />
      )}
      <TrainingPanel view={view} />
      {view.phase !== 'other-tab' && <DeviceControls view={view} onTogglePause={() => session.togglePause()} onChargingOnly={(on) => session.setChargingOnly(on)} />}
      {view.error && (
        <p className="error" role="alert" data-testid="error">
          {view.error}
        </p>
      )}
    </main>
  );
}
