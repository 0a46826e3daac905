import { z } from 'zod';
import type { SignedAcknowledgement } from '../../../shared/acknowledgement';
import { ConversationIdSchema, DeviceAddressSchema, DeviceIdSchema, MessageIdSchema, UserIdSchema, type ConversationId, type DeviceAddress, type MessageId, type UserId } from '../../../shared/ids';
import { AcknowledgementPayloadSchema, TextPayloadSchema, type AcknowledgementPayload, type TextPayload } from '../../../shared/payload';
import { EscalationStateSchema, type EscalationState } from '../../../shared/wire/escalation';
import type { SqlRunner } from './ProfileDatabase';

/*
 * What urgent messages add to a profile (issue 19): the reason given, the escalation a copy carries, the
 * signed acknowledgements (kept with their signature, for a dispute), and this device's own escalation
 * ladders with the progress the relay last reported. Everything stays in the encrypted profile database.
 */

/** How many refused acknowledgements are kept aside to check again, and for how long (migration 0015). */
const SET_ASIDE_MAX = 200;
const SET_ASIDE_MS = 24 * 3600_000;

/** How an urgent message escalates: everyone a rung may reach, and, on a copy a rung released, that rung. */
export const MessageEscalationSchema = z.strictObject({
  escalatesTo: z.array(UserIdSchema).optional(),
  released: z.strictObject({
    escalationId: z.string(), rung: z.number().int(), waitedFor: z.array(UserIdSchema), afterMs: z.number().int(),
    /** The conversation as the sender wrote it (the copy is filed under the sender and this user). */
    conversationId: ConversationIdSchema,
    /** The message the copy is of (absent: a copy from a version that sent it under the original's id). */
    original: MessageIdSchema.optional(),
  }).optional(),
});
export type MessageEscalation = z.infer<typeof MessageEscalationSchema>;

/** One rung: when, to whom (an on-call role's holders resolved at sending: the role's name is kept for the screen). */
export const LadderRungSchema = z.strictObject({ afterMs: z.number().int().positive(), recipients: z.array(UserIdSchema).min(1), role: z.string().optional() });
export type LadderRung = z.infer<typeof LadderRungSchema>;

/** Where one rung of a ladder went: the relay's rung number, or why the relay holds nothing for it. */
export const RungPlacementSchema = z.union([z.number().int().positive(), z.enum(['reached', 'unreachable'])]);
export type RungPlacement = z.infer<typeof RungPlacementSchema>;

export interface StoredLadder {
  readonly messageId: MessageId;
  readonly escalationId: string;
  readonly rungs: readonly LadderRung[];
  readonly payload: TextPayload;
  readonly submittedAt: number | null;
  readonly progress: EscalationState | null;
  /** Per rung, once handed over (null before, and for ladders handed over before placements were kept: rung i is i + 1). */
  readonly placement: readonly RungPlacement[] | null;
}

export interface StoredAcknowledgement extends SignedAcknowledgement {
  readonly receivedAt: number;
  readonly reportedAt: number | null;
  /** Passed on by the message's sender and not verifiable here (no identity key for the acknowledger): their word. */
  readonly vouchedBy: UserId | null;
}

interface AckRow { message_id: string; conversation_id: string; sender_user: string; acknowledger_user: string; acknowledger_device: number; acknowledged_at: number; signature: string; received_at: number; reported_at: number | null; covering_for: string | null; vouched_by: string | null }
interface LadderRow { message_id: string; escalation_id: string; rungs: string; payload: string; submitted_at: number | null; progress: string | null; placement: string | null }

const toAck = (r: AckRow): StoredAcknowledgement => ({
  statement: {
    messageId: r.message_id as MessageId, conversationId: r.conversation_id as ConversationId, sender: r.sender_user as UserId,
    acknowledger: { userId: r.acknowledger_user as UserId, deviceId: DeviceIdSchema.parse(r.acknowledger_device) }, acknowledgedAt: r.acknowledged_at,
    ...(r.covering_for ? { coveringFor: r.covering_for as UserId } : {}),
  },
  signature: r.signature, receivedAt: r.received_at, reportedAt: r.reported_at, vouchedBy: r.vouched_by as UserId | null,
});

/** A note this or a later version wrote; anything unreadable reads as none. */
function parsed<T>(schema: z.ZodType<T>, json: string | null): T | null {
  if (json === null) return null;
  try {
    const result = schema.safeParse(JSON.parse(json));
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}

const toLadder = (r: LadderRow): StoredLadder => ({
  messageId: r.message_id as MessageId, escalationId: r.escalation_id, rungs: z.array(LadderRungSchema).parse(JSON.parse(r.rungs)),
  payload: TextPayloadSchema.parse(JSON.parse(r.payload)), submittedAt: r.submitted_at, progress: parsed(EscalationStateSchema, r.progress),
  placement: parsed(z.array(RungPlacementSchema), r.placement),
});

export class UrgencyStore {
  constructor(private readonly db: SqlRunner) {}

  /** The reason and escalation of a message just stored (urgent ones only). */
  annotate(id: MessageId, reason: string | null, escalation: MessageEscalation | null): void {
    this.db.run('UPDATE messages SET urgent_reason = $reason, escalation = $escalation WHERE id = $id', { id, reason, escalation: escalation ? JSON.stringify(escalation) : null });
  }

  annotations(ids: readonly MessageId[]): Map<MessageId, { reason: string | null; escalation: MessageEscalation | null }> {
    const out = new Map<MessageId, { reason: string | null; escalation: MessageEscalation | null }>();
    for (const id of ids) {
      const row = this.db.get<{ urgent_reason: string | null; escalation: string | null }>('SELECT urgent_reason, escalation FROM messages WHERE id = $id', { id });
      if (row) out.set(id, { reason: row.urgent_reason, escalation: parsed(MessageEscalationSchema, row.escalation) });
    }
    return out;
  }

  /** Stores a verified acknowledgement; false when this account's acknowledgement of the message is held already. */
  addAcknowledgement(ack: SignedAcknowledgement, receivedAt: number, reportedAt: number | null = null, vouchedBy: UserId | null = null): boolean {
    const s = ack.statement;
    return this.db.run(
      `INSERT OR IGNORE INTO acknowledgements (message_id, conversation_id, sender_user, acknowledger_user, acknowledger_device, acknowledged_at, signature, received_at, reported_at, covering_for, vouched_by)
       VALUES ($m, $c, $s, $u, $d, $at, $sig, $rec, $rep, $cov, $vouched)`,
      { m: s.messageId, c: s.conversationId, s: s.sender, u: s.acknowledger.userId, d: s.acknowledger.deviceId, at: s.acknowledgedAt, sig: ack.signature, rec: receivedAt, rep: reportedAt, cov: s.coveringFor ?? null, vouched: vouchedBy },
    ) === 1;
  }

  /** The acknowledgement (by its signature) arrived from its signer too and verified here: no longer only the sender's word. */
  markVerified(messageId: MessageId, signature: string): void {
    this.db.run('UPDATE acknowledgements SET vouched_by = NULL WHERE message_id = $m AND signature = $sig', { m: messageId, sig: signature });
  }

  /** The acknowledgements of a message: of `sender`'s message of that id (every sender's when not given). */
  acknowledgements(messageId: MessageId, sender?: UserId): StoredAcknowledgement[] {
    return sender === undefined
      ? this.db.all<AckRow>('SELECT * FROM acknowledgements WHERE message_id = $m ORDER BY acknowledged_at', { m: messageId }).map(toAck)
      : this.db.all<AckRow>('SELECT * FROM acknowledgements WHERE message_id = $m AND sender_user = $s ORDER BY acknowledged_at', { m: messageId, s: sender }).map(toAck);
  }

  /** This user's own acknowledgements the relay has not confirmed yet (to report again). */
  unreported(self: UserId): StoredAcknowledgement[] {
    return this.db.all<AckRow>('SELECT * FROM acknowledgements WHERE acknowledger_user = $u AND reported_at IS NULL ORDER BY acknowledged_at', { u: self }).map(toAck);
  }

  /** The relay confirmed (or refused for good) `user`'s acknowledgement of `sender`'s message `messageId` (the sender's id for it). */
  markReported(messageId: MessageId, sender: UserId, user: UserId, at: number): void {
    this.db.run('UPDATE acknowledgements SET reported_at = $at WHERE message_id = $m AND sender_user = $s AND acknowledger_user = $u', { at, m: messageId, s: sender, u: user });
  }

  /**
   * Urgent messages from others this user has not acknowledged, nor someone covering for them (reminded of until then).
   * An acknowledgement names a message by its sender's id for it (wire_id, when this profile keeps it under another).
   */
  unacknowledged(self: UserId): { id: MessageId; conversationId: ConversationId; receivedAt: number }[] {
    return this.db.all<{ id: string; conversation_id: string; received_at: number }>(
      `SELECT id, conversation_id, received_at FROM messages m WHERE urgent = 1 AND sender_user != $u AND acknowledgement_expected = 1
       AND NOT EXISTS (SELECT 1 FROM acknowledgements a WHERE a.message_id IN (COALESCE(m.wire_id, m.id), json_extract(m.coverage, '$.original'), json_extract(m.escalation, '$.released.original')) AND a.sender_user = m.sender_user AND (a.acknowledger_user = $u OR a.covering_for = $u)) ORDER BY received_at`, { u: self },
    ).map((r) => ({ id: r.id as MessageId, conversationId: r.conversation_id as ConversationId, receivedAt: r.received_at }));
  }

  /**
   * Keeps a refused acknowledgement aside to check again later (see migration 0015): at most SET_ASIDE_MAX of them,
   * none older than SET_ASIDE_MS.
   */
  setAside(ack: AcknowledgementPayload, from: DeviceAddress, at: number): void {
    this.db.run('DELETE FROM acknowledgements_set_aside WHERE received_at < $old', { old: at - SET_ASIDE_MS });
    this.db.run(
      `INSERT OR REPLACE INTO acknowledgements_set_aside (signature, message_id, sender_user, payload, from_user, from_device, received_at) VALUES ($sig, $m, $s, $p, $fu, $fd, $at)`,
      { sig: ack.signature, m: ack.statement.messageId, s: ack.statement.sender, p: JSON.stringify(ack), fu: from.userId, fd: from.deviceId, at },
    );
    this.db.run('DELETE FROM acknowledgements_set_aside WHERE signature NOT IN (SELECT signature FROM acknowledgements_set_aside ORDER BY received_at DESC LIMIT $max)', { max: SET_ASIDE_MAX });
  }

  /** Takes out the acknowledgements set aside of `sender`'s message `messageId` (the sender's id for it), to check them again. */
  takeSetAside(messageId: MessageId, sender: UserId): { payload: AcknowledgementPayload; from: DeviceAddress }[] {
    const rows = this.db.all<{ payload: string; from_user: string; from_device: number }>(
      'SELECT payload, from_user, from_device FROM acknowledgements_set_aside WHERE message_id = $m AND sender_user = $s ORDER BY received_at', { m: messageId, s: sender },
    );
    this.db.run('DELETE FROM acknowledgements_set_aside WHERE message_id = $m AND sender_user = $s', { m: messageId, s: sender });
    return rows.flatMap((r) => {
      const payload = parsed(AcknowledgementPayloadSchema, r.payload);
      const from = DeviceAddressSchema.safeParse({ userId: r.from_user, deviceId: r.from_device });
      return payload && from.success ? [{ payload, from: from.data }] : [];
    });
  }

  addLadder(messageId: MessageId, escalationId: string, rungs: readonly LadderRung[], payload: TextPayload): void {
    this.db.run('INSERT INTO escalation_ladders (message_id, escalation_id, rungs, payload) VALUES ($m, $e, $r, $p)', { m: messageId, e: escalationId, r: JSON.stringify(rungs), p: JSON.stringify(payload) });
  }

  ladder(messageId: MessageId): StoredLadder | undefined {
    const row = this.db.get<LadderRow>('SELECT * FROM escalation_ladders WHERE message_id = $m', { m: messageId });
    return row ? toLadder(row) : undefined;
  }

  /** Ladders not handed to the relay yet, and those still running (not stopped, a rung not yet released). */
  unsubmittedLadders(): StoredLadder[] {
    return this.db.all<LadderRow>('SELECT * FROM escalation_ladders WHERE submitted_at IS NULL').map(toLadder);
  }

  runningLadders(): StoredLadder[] {
    // Without progress once handed over: the relay held nothing for it (every rung reached no one), nothing to read.
    return this.db.all<LadderRow>('SELECT * FROM escalation_ladders WHERE submitted_at IS NOT NULL AND progress IS NOT NULL').map(toLadder)
      .filter((l) => l.progress !== null && l.progress.acknowledged === null && l.progress.rungs.some((r) => r.releasedAt === null && r.cancelledAt === null));
  }

  /** The relay's progress; with `handedOver`, the ladder was just handed over, its rungs placed so. */
  setProgress(messageId: MessageId, progress: EscalationState, handedOver?: { at: number; placement: readonly RungPlacement[] }): void {
    this.db.run('UPDATE escalation_ladders SET progress = $p, submitted_at = coalesce($s, submitted_at), placement = coalesce($pl, placement) WHERE message_id = $m', {
      m: messageId, p: JSON.stringify(progress), s: handedOver?.at ?? null, pl: handedOver ? JSON.stringify(handedOver.placement) : null,
    });
  }

  /** Done with a ladder none of whose rungs reached anyone new: nothing was handed to the relay, and nothing will be. */
  setNothingHeld(messageId: MessageId, at: number, placement: readonly RungPlacement[]): void {
    this.db.run('UPDATE escalation_ladders SET submitted_at = $s, placement = $pl WHERE message_id = $m', { m: messageId, s: at, pl: JSON.stringify(placement) });
  }
}
