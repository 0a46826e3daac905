import type { PresenceStatus } from '../../../shared/wire/presence';

/**
 * Whether a new message, or the reminder of an unread urgent one, raises an OS notification given the user's
 * own status (issue 19). Do not disturb keeps non-urgent messages quiet (they still arrive, and the unread
 * counts still show them); urgent messages and their reminders always notify, whatever the status. Every
 * other status notifies as usual: Off shift forwards messages to whoever covers, it does not silence this
 * workstation.
 */
export function notifiesWhile(own: PresenceStatus, urgent: boolean): boolean {
  return urgent || own !== 'doNotDisturb';
}
