import type { UiEvent } from '../../shared/contract';

/** Whether this workstation can store what it receives (the core's `receiving` event). */
export type Receiving = Extract<UiEvent, { type: 'receiving' }>['state'];

/**
 * Receiving as the main window shows it, folded from the core's events at the app root like the connection
 * (connection.ts): a damaged database is found on the first envelope, which may come before the main screen has
 * mounted. It belongs to the open profile: a session that is no longer unlocked starts over at `ok` (the core
 * checks the database again when the profile is next opened).
 */
export function nextReceiving(current: Receiving, event: UiEvent): Receiving {
  if (event.type === 'receiving') return event.state;
  if (event.type === 'session' && event.state.phase !== 'unlocked') return 'ok';
  return current;
}
