import { UserIdSchema, type DeviceAddress, type DeviceId, type MessageId, type UserId } from '../../shared/ids';
import type { EscalationState } from '../../shared/wire/escalation';
import type { AuditEvent } from '../audit/AuditRecord';
import type { NewEnvelope } from './relayRecords';
import type { NewEscalation, ReleasedRung } from './EscalationStore';

/** The rows of escalations both stores read (numbers as PostgreSQL's BIGINT text or SQLite's integers). */
export interface EscalationRow { id: string; message_id: string; sender_user: string; sender_device: number; recipients: string; created_at: number | string; acknowledged_at: number | string | null; acknowledged_by: string | null }
export interface RungRow { escalation_id: string; rung: number; due_at: number | string; recipients: string; released_at: number | string | null; cancelled_at: number | string | null }
export interface HeldEnvelopeRow { id: string; type: string; recipient_user: string; recipient_device: number; content: string }
export interface AcknowledgementRow { acknowledger_user: string; acknowledger_device: number; recorded_at: number | string }

/** A queue has no limit for a released rung: the relay took its envelopes already, when it held the ladder. */
export const UNLIMITED_QUEUE = { maxEnvelopes: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER, maxEnvelopesPerSender: Number.MAX_SAFE_INTEGER, maxBytesPerSender: Number.MAX_SAFE_INTEGER } as const;

const users = (json: string): UserId[] => (JSON.parse(json) as string[]).map((u) => UserIdSchema.parse(u));
const num = (v: number | string): number => Number(v);
const numOrNull = (v: number | string | null): number | null => (v === null ? null : Number(v));

export function escalationState(row: EscalationRow, rungs: readonly RungRow[]): EscalationState {
  return {
    escalationId: row.id,
    messageId: row.message_id as MessageId,
    createdAt: num(row.created_at),
    acknowledged: row.acknowledged_by !== null && row.acknowledged_at !== null ? { by: UserIdSchema.parse(row.acknowledged_by), at: num(row.acknowledged_at) } : null,
    rungs: [...rungs].sort((a, b) => a.rung - b.rung).map((r) => ({ rung: r.rung, dueAt: num(r.due_at), recipients: users(r.recipients), releasedAt: numOrNull(r.released_at), cancelledAt: numOrNull(r.cancelled_at) })),
  };
}

/** Whether a second hold of this id is the same ladder (same sender and message) resent. */
export function sameLadder(row: Pick<EscalationRow, 'message_id' | 'sender_user' | 'sender_device'>, escalation: NewEscalation): boolean {
  return row.message_id === escalation.messageId && row.sender_user === escalation.sender.userId && row.sender_device === escalation.sender.deviceId;
}

/**
 * Of the acknowledgements recorded before a ladder was held, the first by one of its recipients (the only people
 * who may stop a ladder none of whose rungs went yet): the ladder is held stopped by it. Undefined when none.
 */
export function earliestAcknowledgement(e: NewEscalation, rows: readonly AcknowledgementRow[]): { acknowledger: DeviceAddress; at: number } | undefined {
  const first = rows.filter((r) => (e.recipients as readonly string[]).includes(r.acknowledger_user)).sort((a, b) => num(a.recorded_at) - num(b.recorded_at))[0];
  return first && { acknowledger: { userId: first.acknowledger_user as UserId, deviceId: first.acknowledger_device as DeviceId }, at: num(first.recorded_at) };
}

/** The envelopes a released rung puts into the queues: from the ladder's sender, accepted now. */
export function releasedEnvelopes(sender: DeviceAddress, rows: readonly HeldEnvelopeRow[], now: number): NewEnvelope[] {
  return rows.map((r) => ({
    id: r.id as NewEnvelope['id'], type: r.type as NewEnvelope['type'], content: r.content, acceptedAt: now, sender,
    recipient: { userId: r.recipient_user as UserId, deviceId: r.recipient_device as DeviceId },
  }));
}

/** The released rung, as the caller and its audit record see it. */
export function releasedRung(escalation: Pick<EscalationRow, 'id' | 'message_id' | 'sender_user' | 'sender_device'>, rung: RungRow, delivered: readonly DeviceAddress[]): ReleasedRung {
  return {
    escalationId: escalation.id, messageId: escalation.message_id as MessageId,
    sender: { userId: escalation.sender_user as UserId, deviceId: escalation.sender_device as DeviceId },
    rung: rung.rung, dueAt: num(rung.due_at), recipients: users(rung.recipients), delivered,
  };
}

/** The audit record of each envelope a rung released (never counted again as an urgent send: the ladder was). */
export function releasedEnvelopeAudit(escalationId: string) {
  return (e: NewEnvelope): AuditEvent => ({
    type: 'envelope.accepted', actor: `${e.sender.userId}.${e.sender.deviceId}`, subject: e.id,
    details: { recipient: `${e.recipient.userId}.${e.recipient.deviceId}`, size: Math.floor((e.content.length * 3) / 4), type: e.type, escalation: escalationId },
  });
}

