import { UserIdSchema, type DeviceAddress, type DeviceId, type MessageId, type UserId } from '../../shared/ids';
import type { EscalationState } from '../../shared/wire/escalation';
import type { AuditEvent } from '../audit/AuditRecord';
import type { NewEnvelope } from './relayRecords';
import type { HoldLimits, HoldOutcome, NewEscalation, ReleasedRung } from './EscalationStore';
import { byRecipientDevice, ciphertextBytes } from './queueBatches';

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


/** What a recipient device's queue and the ladders held for it take up now (bytes of held envelopes as base64 characters). */
export interface DeviceUsageRow { queued_envelopes: number | string; queued_bytes: number | string; share_envelopes: number | string; share_bytes: number | string; held_envelopes: number | string; held_chars: number | string; sender_held_envelopes: number | string; sender_held_chars: number | string }
/** What one sending account's ladders hold now. */
export interface SenderUsageRow { ladders: number | string; held_chars: number | string }

/** The query of DeviceUsageRow for the device ($u, $d) and the sending account ($s), in the store's placeholders. */
export function deviceUsageSql(u: string, d: string, s: string): string {
  const queue = (column: string, sender: string) => `COALESCE((SELECT ${column} FROM queue_shares WHERE user_id = ${u} AND device_id = ${d} AND sender_user = ${sender}), 0)`;
  const held = `FROM escalation_envelopes x WHERE x.recipient_user = ${u} AND x.recipient_device = ${d}`;
  const fromSender = `AND EXISTS (SELECT 1 FROM escalations e WHERE e.id = x.escalation_id AND e.sender_user = ${s})`;
  return `SELECT ${queue('envelopes', "''")} AS queued_envelopes, ${queue('bytes', "''")} AS queued_bytes,
    ${queue('envelopes', s)} AS share_envelopes, ${queue('bytes', s)} AS share_bytes,
    (SELECT COUNT(*) ${held}) AS held_envelopes, (SELECT COALESCE(SUM(length(x.content)), 0) ${held}) AS held_chars,
    (SELECT COUNT(*) ${held} ${fromSender}) AS sender_held_envelopes, (SELECT COALESCE(SUM(length(x.content)), 0) ${held} ${fromSender}) AS sender_held_chars`;
}

/** The query of SenderUsageRow for the sending account ($s). */
export function senderUsageSql(s: string): string {
  return `SELECT (SELECT COUNT(DISTINCT r.escalation_id) FROM escalation_rungs r JOIN escalations e ON e.id = r.escalation_id
                  WHERE e.sender_user = ${s} AND r.released_at IS NULL AND r.cancelled_at IS NULL) AS ladders,
                 (SELECT COALESCE(SUM(length(x.content)), 0) FROM escalation_envelopes x JOIN escalations e ON e.id = x.escalation_id WHERE e.sender_user = ${s}) AS held_chars`;
}

/**
 * Why a new ladder may not be held, or undefined: its sender's account holds as much as it may, or a recipient
 * device's queue (what is queued and what ladders hold for it) or this sender's share of it has no room for
 * the ladder's envelopes, as a send of them now would find. `deviceUsage` reads one device's usage.
 */
export function holdRefusal(e: NewEscalation, limits: HoldLimits, sender: SenderUsageRow, deviceUsage: (device: DeviceAddress) => DeviceUsageRow): HoldOutcome | undefined {
  const envelopes = heldAsEnvelopes(e);
  const bytes = envelopes.reduce((sum, x) => sum + ciphertextBytes(x.content), 0);
  if (num(sender.ladders) + 1 > limits.maxLaddersPerAccount || Math.floor((num(sender.held_chars) * 3) / 4) + bytes > limits.maxHeldBytesPerAccount) return 'tooMuchHeld';
  for (const batch of byRecipientDevice(envelopes)) {
    const u = deviceUsage(batch.recipient);
    const count = batch.indices.length;
    if (num(u.queued_envelopes) + num(u.held_envelopes) + count > limits.queue.maxEnvelopes
      || num(u.queued_bytes) + Math.floor((num(u.held_chars) * 3) / 4) + batch.bytes > limits.queue.maxBytes) return 'queueFull';
    if (batch.recipient.userId === e.sender.userId) continue;
    if (num(u.share_envelopes) + num(u.sender_held_envelopes) + count > limits.queue.maxEnvelopesPerSender
      || num(u.share_bytes) + Math.floor((num(u.sender_held_chars) * 3) / 4) + batch.bytes > limits.queue.maxBytesPerSender) return 'senderShareFull';
  }
  return undefined;
}

/** The recipient devices of a ladder's envelopes (each once). */
export function ladderDevices(e: NewEscalation): DeviceAddress[] {
  return byRecipientDevice(heldAsEnvelopes(e)).map((b) => b.recipient);
}

function heldAsEnvelopes(e: NewEscalation): NewEnvelope[] {
  return e.rungs.flatMap((r) => r.envelopes.map((x) => ({ id: x.id as NewEnvelope['id'], type: x.type, recipient: x.recipient, content: x.content, sender: e.sender, acceptedAt: e.createdAt })));
}

/** Ladders held before `before` ($1-style placeholder given) with no rung left to release: what a purge deletes. */
export function purgeableLaddersSql(before: string): string {
  return `SELECT id FROM escalations e WHERE e.created_at < ${before}
    AND NOT EXISTS (SELECT 1 FROM escalation_rungs r WHERE r.escalation_id = e.id AND r.released_at IS NULL AND r.cancelled_at IS NULL)`;
}
