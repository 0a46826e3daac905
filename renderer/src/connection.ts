import type { SessionState, UiEvent } from '../../shared/contract';

export type Connection = 'online' | 'connecting' | 'offline' | 'signInAgain';

/**
 * The relay connection as the header shows it, folded from the core's events in the order they came.
 * It is applied at the app root, which listens from the first render: the core may report `online`
 * milliseconds after `session:unlocked(online=false)`, before any screen below has mounted, and a screen
 * that started listening late would stay on "Connecting…" (issue 14).
 *
 * `null` while no profile is open. A `connection` event is newer than a session state's `online` flag (the
 * core sends `connecting` before the unlocked state), so the flag only fills in when no event came since.
 */
export function nextConnection(current: Connection | null, event: UiEvent): Connection | null {
  // The core says `connecting` before each attempt, also each retry (every 1 to 30 s) while the relay is out of
  // reach or asks for a sign-in: that is no news. "Offline" or "Sign-in needed" stays, with its banner and the focus
  // on its button, until the connection is up or fails some other way; otherwise each retry would take the banner
  // down and put it back, and its alert would be heard again every half minute.
  if (event.type === 'connection') return event.state === 'connecting' && (current === 'offline' || current === 'signInAgain') ? current : event.state;
  if (event.type !== 'session') return current;
  return fromSession(event.state, current);
}

export function fromSession(state: SessionState, current: Connection | null): Connection | null {
  if (state.phase !== 'unlocked') return null;
  if (state.online) return 'online';
  return current ?? 'connecting';
}
