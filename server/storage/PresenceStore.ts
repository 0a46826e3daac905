/*
 * What the relay keeps of presence (issue 19): each user's current status as their own devices set it, with
 * its note, end time and forward-to. A user without a row is Available (a row may say Available too, with a note). Setting one stores its audit
 * records in the same transaction, as RelayStore's mutations do; reading never writes (a status past its end
 * time reads as Available: see presenceAt in shared/wire/presence.ts, applied by the caller).
 */
import type { DeviceId, UserId } from '../../shared/ids';
import { ForwardTargetSchema, type ForwardTarget, type ForwardingSignature, type Presence, type PresenceStatus } from '../../shared/wire/presence';
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
  /** With a forward-to: that device's signature over it, and the identity key it verified with (base64). */
  readonly forwarding: (ForwardingSignature & { readonly identityKey: string }) | null;
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
  forward_signed_at: number | string | null; forward_signature: string | null; forward_identity_key: string | null;
}

export function toStoredPresence(r: PresenceRow): StoredPresence {
  const forwardTo = r.forward_user !== null ? ForwardTargetSchema.parse({ kind: 'user', userId: r.forward_user })
    : r.forward_role !== null ? ForwardTargetSchema.parse({ kind: 'role', roleId: r.forward_role }) : null;
  return {
    userId: r.user_id as UserId, status: r.status as StoredPresence['status'], note: r.note, until: r.until === null ? null : Number(r.until),
    forwardTo, setAt: Number(r.set_at), setBy: r.set_by_device as DeviceId,
    forwarding: r.forward_signed_at !== null && r.forward_signature !== null && r.forward_identity_key !== null
      ? { signedAt: Number(r.forward_signed_at), signature: r.forward_signature, identityKey: r.forward_identity_key }
      : null,
  };
}

/** The presence table's columns, in the order presenceValues gives them. */
export const PRESENCE_COLUMNS = ['user_id', 'status', 'note', 'until', 'forward_user', 'forward_role', 'set_at', 'set_by_device', 'forward_signed_at', 'forward_signature', 'forward_identity_key'] as const;

/** The row's values for an INSERT, in PRESENCE_COLUMNS order. */
export function presenceValues(p: StoredPresence): (string | number | null)[] {
  const f = p.forwarding;
  return [p.userId, p.status, p.note, p.until, p.forwardTo?.kind === 'user' ? p.forwardTo.userId : null, p.forwardTo?.kind === 'role' ? p.forwardTo.roleId : null, p.setAt, p.setBy, f?.signedAt ?? null, f?.signature ?? null, f?.identityKey ?? null];
}

/** As the API answers it: a forward-to only with its signed statement (one without is not the clinician's word). */
export function presenceView(p: StoredPresence): Presence {
  // The identity key the relay checked the signature with still goes out beside it, for workstations from before it
  // became optional (they require it); readers from then on ignore it and check with a key of their own. Drop it
  // once no workstation older than that is in service.
  const proof = p.forwardTo && p.forwarding ? { signer: { userId: p.userId, deviceId: p.setBy }, ...p.forwarding } : null;
  // Without a proof the key is left out: a workstation from before signed forwarding reads the answer as before.
  return { userId: p.userId, status: p.status, note: p.note, until: p.until, forwardTo: proof ? p.forwardTo : null, since: p.setAt, ...(proof ? { forwarding: proof } : {}) };
}
