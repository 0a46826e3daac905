import type { DeviceAddress, MessageId, UserId } from '../../shared/ids';
import type { EnvelopeType } from '../../shared/wire/envelope';
import type { EscalationState } from '../../shared/wire/escalation';
import type { AuditEvent } from '../audit/AuditRecord';
import type { QueueLimits } from './relayRecords';

/*
 * Issue 19: the relay's part of closed-loop urgent messages. Signed acknowledgements (verified by the relay
 * before they get here) and the escalation ladders it holds: each rung's envelopes are ciphertext the relay
 * cannot read, released into their recipients' queues when the rung falls due unless an acknowledgement came
 * first. Release and mark are one transaction, so a rung is released once, however many relay instances
 * race for it and whenever one restarts; every change writes its audit record in the same transaction.
 */

/** One held envelope of a rung (the sender is the ladder's). */
export interface HeldEnvelope {
  readonly id: string;
  readonly type: EnvelopeType;
  readonly recipient: DeviceAddress;
  readonly content: string;
}

export interface NewEscalation {
  readonly id: string;
  readonly messageId: MessageId;
  readonly sender: DeviceAddress;
  /** Whom the message itself went to: an acknowledgement by one of them cancels the ladder. */
  readonly recipients: readonly UserId[];
  readonly createdAt: number;
  readonly rungs: readonly { readonly dueAt: number; readonly recipients: readonly UserId[]; readonly envelopes: readonly HeldEnvelope[] }[];
}

/**
 * What holdEscalation did: held it now, or found this very ladder held already (a resend after a lost answer);
 * or refused it: the id is another ladder's, the sender's account holds as many ladders (or bytes) as it may
 * (tooMuchHeld), or a recipient device's queue, or this sender's share of it, counting what ladders hold for
 * it, has no room for the ladder's envelopes (queueFull, senderShareFull: as a send would be refused).
 */
export type HoldOutcome = 'held' | 'alreadyHeld' | 'idTaken' | 'tooMuchHeld' | 'queueFull' | 'senderShareFull';

/** What a hold may add to: the recipients' queues (as a send), and the ladders one account holds at once. */
export interface HoldLimits {
  readonly queue: QueueLimits;
  /** Ladders of one sending account with a rung still to be released or cancelled. */
  readonly maxLaddersPerAccount: number;
  /** Bytes of ciphertext one sending account's ladders hold. */
  readonly maxHeldBytesPerAccount: number;
}

/** A rung the release took out of the hold: its envelopes are in the queues now (those of devices still active). */
export interface ReleasedRung {
  readonly escalationId: string;
  readonly messageId: MessageId;
  readonly sender: DeviceAddress;
  readonly rung: number;
  readonly dueAt: number;
  readonly recipients: readonly UserId[];
  /** The devices that got an envelope (to be told at once). */
  readonly delivered: readonly DeviceAddress[];
}

/** An acknowledgement the relay verified, to record. */
export interface VerifiedAcknowledgement {
  readonly messageId: MessageId;
  readonly sender: UserId;
  readonly acknowledger: DeviceAddress;
  readonly acknowledgedAt: number;
  readonly signature: string;
  readonly recordedAt: number;
}

/** What a purge after retention deleted. */
export interface PurgedCounts {
  readonly ladders: number;
  readonly acknowledgements: number;
}

/** A ladder an acknowledgement stopped: its rungs not released yet are cancelled. */
export interface CancelledEscalation {
  readonly escalationId: string;
  readonly rungs: number;
  /** The device whose acknowledgement stopped it. */
  readonly acknowledger: DeviceAddress;
}

export interface AcknowledgementOutcome {
  /** False when this account's acknowledgement of the message was recorded already (nothing written). */
  readonly recorded: boolean;
  /**
   * Whether the relay knows the message reached the acknowledger: they are among the recipients of a ladder of
   * it (or of a rung released). When not, the acknowledgement is only self-reported.
   */
  readonly eligible: boolean;
  readonly cancelled: readonly CancelledEscalation[];
}

export interface EscalationStore {
  /**
   * Holds a ladder with `audit`; a second hold of the same id is 'alreadyHeld' (same sender and message) or 'idTaken'.
   * When one of its recipients has acknowledged the message already (the ladder came late), it is held stopped,
   * every rung cancelled and no envelope kept, with `cancelAudit`, in the same transaction.
   */
  hold(escalation: NewEscalation, limits: HoldLimits, audit: readonly AuditEvent[], cancelAudit: (cancelled: CancelledEscalation) => AuditEvent): Promise<HoldOutcome>;
  /**
   * Releases up to `limit` rungs due at `now` (not released, not cancelled), oldest first: each one's envelopes
   * go into the queues of their devices still active (no queue limit: an escalation is not held back by a full
   * queue), are removed from the hold, and the rung is marked released, with `auditOf(rung)`, in one transaction.
   * It stops after the rung that brings its envelopes past `maxChars` of content (one transaction stays short).
   */
  releaseDue(now: number, limit: number, auditOf: (rung: ReleasedRung) => AuditEvent, maxChars?: number): Promise<ReleasedRung[]>;
  /**
   * Records a verified acknowledgement with `audit(eligible)` (see AcknowledgementOutcome) and cancels, in the same transaction, the rungs not yet released
   * of every ladder of that message and sender which the acknowledger could see (among its recipients, or of a
   * rung released), each with `cancelAudit`. A second acknowledgement of the same message by the same account
   * records nothing again, but still cancels what it may (a ladder held since, or a rung released to it since).
   */
  acknowledge(ack: VerifiedAcknowledgement, audit: (eligible: boolean) => readonly AuditEvent[], cancelAudit: (cancelled: CancelledEscalation) => AuditEvent): Promise<AcknowledgementOutcome>;
  /**
   * Deletes, past retention, the ladders held before `before` that have nothing left to release (their rungs and
   * any envelope with them) and the acknowledgements recorded before it, with `audit(counts)` when any were, in
   * one transaction; returns the counts. The audit log keeps what happened to them.
   */
  purge(before: number, audit: (counts: PurgedCounts) => AuditEvent): Promise<PurgedCounts>;
  /** The ladder's state, for its sender's account only (undefined for anyone else, or no such ladder). */
  state(escalationId: string, sender: UserId): Promise<EscalationState | undefined>;
  /**
   * How far the shared database's clock is ahead of this process's (PostgreSQL: instances on several hosts take
   * due times and release by one clock, the database's), or undefined when the store is this relay's alone.
   */
  clockSkewMs?(): Promise<number>;
  /** The identity key (base64) an active device uploaded when it was added, or undefined. */
  identityKey(device: DeviceAddress): Promise<string | undefined>;
}

/** The users who may stop a ladder: the message's recipients and those of every rung released. */
export function mayAcknowledge(recipients: readonly string[], released: readonly (readonly string[])[], user: string): boolean {
  return recipients.includes(user) || released.some((r) => r.includes(user));
}

/** What an acknowledgement by `user` does to a ladder: nothing (not theirs to stop), nothing more (stopped already), or stop it. */
export function acknowledgementEffect(
  ladder: { readonly recipients: string; readonly acknowledged_at: number | string | null },
  rungs: readonly { readonly recipients: string; readonly released_at: number | string | null }[],
  user: string,
): 'notEligible' | 'stoppedAlready' | 'stop' {
  const released = rungs.filter((r) => r.released_at !== null).map((r) => JSON.parse(r.recipients) as string[]);
  if (!mayAcknowledge(JSON.parse(ladder.recipients) as string[], released, user)) return 'notEligible';
  return ladder.acknowledged_at === null ? 'stop' : 'stoppedAlready';
}
