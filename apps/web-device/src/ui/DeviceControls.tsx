/** The person's controls: pause/resume, train only while charging; and what the tab's lifecycle does to training. */
import type { DeviceView } from '../device-session';

const REASON_TEXT: Record<string, string> = {
  user: 'you paused it',
  hidden: 'the page is hidden',
  battery: 'the device is not charging',
};

export function DeviceControls({ view, onTogglePause, onChargingOnly }: { view: DeviceView; onTogglePause: () => void; onChargingOnly: (on: boolean) => void }) {
  const userPaused = view.paused.includes('user');
  const active = view.phase !== 'error' && view.phase !== 'other-tab' && view.phase !== 'finished';
  return (
    <section className="card controls" aria-label="device controls">
      <div className="row">
        <button type="button" data-testid="pause-button" aria-pressed={userPaused} disabled={!active} onClick={onTogglePause}>
          {userPaused ? 'Resume training' : 'Pause training'}
        </button>
        <label className="check">
          <input
            type="checkbox"
            data-testid="charging-only"
            checked={view.chargingOnly}
            disabled={view.charging === undefined}
            onChange={(e) => onChargingOnly(e.target.checked)}
          />
          Train only while charging
          {view.charging === undefined ? <span className="muted"> (this browser does not tell)</span> : <span className="muted"> ({view.charging ? 'charging' : 'on battery'})</span>}
        </label>
      </div>
      {view.paused.length > 0 && (
        <p className="muted" data-testid="paused-notice">
          Paused: {view.paused.map((r) => REASON_TEXT[r] ?? r).join(', ')}. The coordinator sees this device as paused and plans rounds without it
          until it resumes; work it already holds keeps its deadline.
          {view.paused.includes('hidden') && ' Browsers throttle or freeze hidden tabs, so training waits until this page is visible again.'}
        </p>
      )}
      <p className="muted" data-testid="wake-lock">
        Screen wake lock:{' '}
        {view.wakeLock === 'held'
          ? 'held while training'
          : view.wakeLock === 'unsupported'
            ? 'not available here (the screen may sleep and pause training)'
            : view.wakeLock === 'refused'
              ? 'refused by the browser'
              : 'off (taken while training)'}
      </p>
    </section>
  );
}
