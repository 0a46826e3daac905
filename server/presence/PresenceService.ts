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
import { MAX_PRESENCE_AHEAD_MS, availablePresence, forwardingSigningBytes, presenceAt, type Presence, type PresenceSetRequest } from '../../shared/wire/presence';
import type { AuditEvent } from '../audit/AuditRecord';
import { identitySignatureHolds } from '../escalation/identitySignature';
import { RelayFailure } from '../RelayFailure';
import { presenceView, type StoredPresence } from '../storage/PresenceStore';
import type { RelayStore } from '../storage/RelayStore';

/** How far a forwarding's signing time may be from the relay's clock (two workstations' clocks disagree a little). */
const SIGNED_AT_SLACK_MS = 5 * 60_000;

export class PresenceService {
  constructor(
    private readonly store: Pick<RelayStore, 'presence' | 'userById' | 'roles' | 'escalations'>,
    private readonly now: () => number,
    /** Told of each status set (after it is stored): the relay tells the connected workstations (PresenceAnnouncements). */
    private readonly changed: (userId: UserId) => void = () => undefined,
  ) {}

  /**
   * Sets the caller's own status; answers it as others will read it. A forward-to must come signed by the
   * calling device's identity key (the one it uploaded), at a time near the relay's: the relay keeps the
   * signature and hands it out, and senders act only on a signature they verify themselves.
   */
  async set(by: DeviceAddress, request: PresenceSetRequest): Promise<Presence> {
    const { update } = request;
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
    if (forwardTo && !request.forwarding) throw new RelayFailure('BAD_REQUEST', 'invalid request: a forward-to must be signed by the device that sets it');
    if (!forwardTo && request.forwarding) throw new RelayFailure('BAD_REQUEST', 'invalid request: only a forward-to is signed');
    const forwarding = forwardTo && request.forwarding ? await this.#signedForwarding(by, { status: update.status, forwardTo, until }, request.forwarding, now) : null;
    // Available without a note is no row at all; with one, the row keeps the note.
    const row: StoredPresence | null = update.status === 'available' && !update.note
      ? null
      : { userId: by.userId, status: update.status, note: update.note ?? null, until, forwardTo, setAt: now, setBy: by.deviceId, forwarding };
    await this.store.presence.setPresence(by.userId, row, [presenceAudit(by, update.status, until, forwardTo, (update.note ?? null) !== null)]);
    this.changed(by.userId);
    return row ? presenceView(row) : availablePresence(by.userId);
  }

  async #signedForwarding(by: DeviceAddress, terms: Parameters<typeof forwardingSigningBytes>[1], signed: NonNullable<PresenceSetRequest['forwarding']>, now: number): Promise<StoredPresence['forwarding']> {
    if (Math.abs(signed.signedAt - now) > SIGNED_AT_SLACK_MS) throw new RelayFailure('BAD_REQUEST', "invalid request: the forwarding's signing time is more than 5 minutes from the relay's clock");
    const identityKey = await this.store.escalations.identityKey(by);
    if (!identityKey) throw new RelayFailure('UNKNOWN_DEVICE', 'this device has no identity key on the relay');
    if (!await identitySignatureHolds(identityKey, forwardingSigningBytes(by, terms, signed.signedAt), signed.signature)) {
      throw new RelayFailure('SIGNATURE_INVALID', "the forwarding's signature does not verify with this device's identity key");
    }
    return { signedAt: signed.signedAt, signature: signed.signature, identityKey };
  }

  /** The presence of each of `userIds` now, in the order asked (Available for anyone without a status). */
  async read(userIds: readonly UserId[]): Promise<Presence[]> {
    const unique = [...new Set(userIds)];
    const stored = new Map((await this.store.presence.presenceOf(unique)).map((p) => [p.userId, presenceView(p)]));
    const now = this.now();
    return unique.map((id) => presenceAt(stored.get(id) ?? availablePresence(id), now));
  }
}

function presenceAudit(by: DeviceAddress, status: string, until: number | null, forwardTo: PresenceSetRequest['update']['forwardTo'], noted: boolean): AuditEvent {
  const forward = forwardTo ? (forwardTo.kind === 'user' ? `user:${forwardTo.userId}` : `role:${forwardTo.roleId}`) : null;
  return { type: 'presence.changed', actor: `${by.userId}.${by.deviceId}`, subject: by.userId, details: { status, until, forwardTo: forward, note: noted } };
}
