/*
 * What the relay keeps of presence (issue 19): each user's current status as their own devices set it, with
 * its note, end time and forward-to. A user without a row is Available (a row may say Available too, with a note). Setting one stores its audit
 * records in the same transaction, as RelayStore's mutations do; reading never writes (a status past its end
 * time reads as Available: see presenceAt in shared/wire/presence.ts, applied by the caller).
 */
import type { DeviceId, UserId } from '../../shared/ids';
import { ForwardTargetSchema, type ForwardTarget, type Presence, type PresenceStatus } from '../../shared/wire/presence';
import type { AuditEvent } from '../audit/AuditRecord';

export interface StoredPresence {
  readonly userId: UserId;
  readonly status: PresenceStatus;
  readonly note: string | null;
  readonly until: number | null;
  readonly forwardTo: ForwardTarget | null;
  readonly setAt: number;
  /** Which of the user's devices set it. */
  readonly setBy: DeviceId;
}

export interface PresenceStore {
  /** Replaces the user's status (null: Available, the row removed) and stores `audit`, in one transaction. */
  setPresence(userId: UserId, presence: StoredPresence | null, audit: readonly AuditEvent[]): Promise<void>;
  /** The stored statuses of those of `userIds` that have one (any order; ended ones included). */
  presenceOf(userIds: readonly UserId[]): Promise<StoredPresence[]>;
}

/** A stored row (either store's column names) as a StoredPresence. */
export interface PresenceRow {
  user_id: string; status: string; note: string | null; until: number | string | null;
  forward_user: string | null; forward_role: string | null; set_at: number | string; set_by_device: number;
}

export function toStoredPresence(r: PresenceRow): StoredPresence {
  const forwardTo = r.forward_user !== null ? ForwardTargetSchema.parse({ kind: 'user', userId: r.forward_user })
    : r.forward_role !== null ? ForwardTargetSchema.parse({ kind: 'role', roleId: r.forward_role }) : null;
  return {
    userId: r.user_id as UserId, status: r.status as StoredPresence['status'], note: r.note, until: r.until === null ? null : Number(r.until),
    forwardTo, setAt: Number(r.set_at), setBy: r.set_by_device as DeviceId,
  };
}

/** The row's values for an INSERT, in column order: user_id, status, note, until, forward_user, forward_role, set_at, set_by_device. */
export function presenceValues(p: StoredPresence): [string, string, string | null, number | null, string | null, string | null, number, number] {
  return [p.userId, p.status, p.note, p.until, p.forwardTo?.kind === 'user' ? p.forwardTo.userId : null, p.forwardTo?.kind === 'role' ? p.forwardTo.roleId : null, p.setAt, p.setBy];
}

/** As the API answers it. */
export function presenceView(p: StoredPresence): Presence {
  return { userId: p.userId, status: p.status, note: p.note, until: p.until, forwardTo: p.forwardTo, since: p.setAt };
}
