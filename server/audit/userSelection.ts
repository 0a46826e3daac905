import type { ExportedRecord } from '../../shared/audit/bundle';
import type { AuditRecord } from './AuditRecord';

/**
 * Which records one user's export (`rounds-server audit export --user asmith`, the compliance screen's
 * per-person export) holds: what the user did and what was done to them, and what was sent to them.
 * A record concerns the user when
 *  - its actor or subject is the user (`<userId>`) or one of their devices (`<userId>.<deviceId>`): their
 *    sign-ins and devices, their messages sent (`envelope.accepted` by them) and received
 *    (`envelope.delivered`, whose actor is the receiving device), admin actions on their account;
 *  - a detail names them or one of their devices: `recipient` of an `envelope.accepted` (a message to
 *    them, delivered or not), the space-separated `devices`, `users` and `senders` lists of refusal
 *    episodes;
 *  - with `username`: a detail `username` is theirs (failed sign-ins and enrollments typed with their name,
 *    which name no account id when the code or password was wrong).
 * Ids match exactly: `<userId>` or `<userId>.<n>`, never a prefix (`ab` is not `abc`, and device `ab.1` is
 * not `ab.12`'s user either). `envelope.expired` records count expired envelopes of all users together
 * and name none: no user's export holds them.
 */
export function recordConcernsUser(record: AuditRecord | ExportedRecord, userId: string, username?: string): boolean {
  if (userId === '') return false;
  if (namesUser(record.actor, userId) || namesUser(record.subject, userId)) return true;
  const details = record.details;
  if (details === null || typeof details !== 'object') return false;
  for (const [key, value] of Object.entries(details)) {
    if (typeof value !== 'string') continue;
    if (key === 'username' && username !== undefined && value === username) return true;
    if (value.includes(userId) && value.split(/[\s,]+/).some((token) => namesUser(token, userId))) return true;
  }
  return false;
}

/** Whether `value` is exactly the user id or one of its device addresses (`<userId>.<deviceId>`). */
export function namesUser(value: unknown, userId: string): boolean {
  if (typeof value !== 'string' || !value.startsWith(userId)) return false;
  if (value.length === userId.length) return true;
  return value.charAt(userId.length) === '.' && /^[1-9]\d{0,2}$/.test(value.slice(userId.length + 1));
}
