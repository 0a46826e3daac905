/*
 * Presence on the relay (issue 19): a user's own devices set their status (checked here: an end time in the
 * future and at most a week ahead, a forward-to that is an active colleague other than themselves or an on-call
 * role that exists; whoever holds the role is resolved by the sender at send time), and any
 * signed-in device reads many users' at once. Every change is audited with its status, end time and forward
 * target, but not the note's words: a note is free text the user types, and although the app asks for
 * organisational words only, the audit log is kept for years and exported, so it records only that a note
 * was set. A status past its end time reads as Available; nothing is written when it ends.
 */
import type { DeviceAddress, UserId } from '../../shared/ids';
import { MAX_PRESENCE_AHEAD_MS, availablePresence, presenceAt, type Presence, type PresenceUpdate } from '../../shared/wire/presence';
import type { AuditEvent } from '../audit/AuditRecord';
import { RelayFailure } from '../RelayFailure';
import { presenceView, type StoredPresence } from '../storage/PresenceStore';
import type { RelayStore } from '../storage/RelayStore';

export class PresenceService {
  constructor(
    private readonly store: Pick<RelayStore, 'presence' | 'userById' | 'roles'>,
    private readonly now: () => number,
  ) {}

  /** Sets the caller's own status; answers it as others will read it. */
  async set(by: DeviceAddress, update: PresenceUpdate): Promise<Presence> {
    const now = this.now();
    const until = update.until ?? null;
    if (until !== null && until <= now) throw new RelayFailure('BAD_REQUEST', 'invalid request: until must be in the future');
    if (until !== null && until > now + MAX_PRESENCE_AHEAD_MS) throw new RelayFailure('BAD_REQUEST', 'invalid request: until may be at most 7 days ahead');
    const forwardTo = update.forwardTo ?? null;
    if (forwardTo?.kind === 'user') {
      if (forwardTo.userId === by.userId) throw new RelayFailure('BAD_REQUEST', 'invalid request: forwardTo cannot be yourself');
      const target = await this.store.userById(forwardTo.userId);
      if (!target || target.status === 'deactivated') throw new RelayFailure('BAD_REQUEST', 'invalid request: forwardTo names no active colleague');
    }
    if (forwardTo?.kind === 'role' && !(await this.store.roles.roleById(forwardTo.roleId))) throw new RelayFailure('BAD_REQUEST', 'invalid request: forwardTo names no on-call role');
    // Available without a note is no row at all; with one, the row keeps the note.
    const row: StoredPresence | null = update.status === 'available' && !update.note
      ? null
      : { userId: by.userId, status: update.status, note: update.note ?? null, until, forwardTo, setAt: now, setBy: by.deviceId };
    await this.store.presence.setPresence(by.userId, row, [presenceAudit(by, update.status, until, forwardTo, (update.note ?? null) !== null)]);
    return row ? presenceView(row) : availablePresence(by.userId);
  }

  /** The presence of each of `userIds` now, in the order asked (Available for anyone without a status). */
  async read(userIds: readonly UserId[]): Promise<Presence[]> {
    const unique = [...new Set(userIds)];
    const stored = new Map((await this.store.presence.presenceOf(unique)).map((p) => [p.userId, presenceView(p)]));
    const now = this.now();
    return unique.map((id) => presenceAt(stored.get(id) ?? availablePresence(id), now));
  }
}

function presenceAudit(by: DeviceAddress, status: string, until: number | null, forwardTo: PresenceUpdate['forwardTo'], noted: boolean): AuditEvent {
  const forward = forwardTo ? (forwardTo.kind === 'user' ? `user:${forwardTo.userId}` : `role:${forwardTo.roleId}`) : null;
  return { type: 'presence.changed', actor: `${by.userId}.${by.deviceId}`, subject: by.userId, details: { status, until, forwardTo: forward, note: noted } };
}
