/**
 * The embedded store's acknowledgements and escalation ladders (EscalationStore.ts): each change one IMMEDIATE
 * transaction with its audit records; a rung's release puts its envelopes into the queues (SqliteEnvelopeQueue,
 * inside the same transaction), deletes them from the hold and marks the rung, so it happens once or not at all.
 */
import type { DeviceAddress } from '../../../shared/ids';
import type { EscalationState } from '../../../shared/wire/escalation';
import type { AuditEvent } from '../../audit/AuditRecord';
import { acknowledgementEffect, type AcknowledgementOutcome, type CancelledEscalation, type EscalationStore, type HoldLimits, type HoldOutcome, type NewEscalation, type PurgedCounts, type ReleasedRung, type VerifiedAcknowledgement } from '../EscalationStore';
import { escalationState, releasedEnvelopeAudit, releasedEnvelopes, releasedRung, sameLadder, UNLIMITED_QUEUE, earliestAcknowledgement, deviceUsageSql, holdRefusal, purgeableLaddersSql, senderUsageSql, type AcknowledgementRow, type DeviceUsageRow, type SenderUsageRow, type EscalationRow, type HeldEnvelopeRow, type RungRow } from '../escalationRows';
import type { SqliteDatabase } from './SqliteDatabase';
import type { SqliteEnvelopeQueue } from './SqliteEnvelopeQueue';

export class SqliteEscalations implements EscalationStore {
  constructor(
    private readonly sql: SqliteDatabase,
    private readonly queue: SqliteEnvelopeQueue,
    private readonly appendAudit: (events: readonly AuditEvent[]) => void,
  ) {}

  async hold(e: NewEscalation, limits: HoldLimits, audit: readonly AuditEvent[], cancelAudit: (cancelled: CancelledEscalation) => AuditEvent): Promise<HoldOutcome> {
    return this.sql.immediate(() => {
      const existing = this.sql.get<EscalationRow>('SELECT * FROM escalations WHERE id = $id', { id: e.id });
      if (existing) return sameLadder(existing, e) ? 'alreadyHeld' : 'idTaken';
      const sender = this.sql.get<SenderUsageRow>(senderUsageSql('$s'), { s: e.sender.userId }) ?? { ladders: 0, held_chars: 0 };
      const deviceSql = deviceUsageSql('$u', '$d', '$s');
      const refusal = holdRefusal(e, limits, sender, (device) => this.sql.get<DeviceUsageRow>(deviceSql, { u: device.userId, d: device.deviceId, s: e.sender.userId }) as DeviceUsageRow);
      if (refusal) return refusal;
      const stoppedBy = earliestAcknowledgement(e, this.sql.all<AcknowledgementRow>(
        'SELECT acknowledger_user, acknowledger_device, recorded_at FROM acknowledgements WHERE message_id = $m AND sender_user = $s', { m: e.messageId, s: e.sender.userId }));
      this.sql.run('INSERT INTO escalations (id, message_id, sender_user, sender_device, recipients, created_at, acknowledged_at, acknowledged_by) VALUES ($id, $m, $su, $sd, $r, $at, $ackAt, $ackBy)',
        { id: e.id, m: e.messageId, su: e.sender.userId, sd: e.sender.deviceId, r: JSON.stringify(e.recipients), at: e.createdAt, ackAt: stoppedBy?.at ?? null, ackBy: stoppedBy?.acknowledger.userId ?? null });
      e.rungs.forEach((rung, i) => {
        this.sql.run('INSERT INTO escalation_rungs (escalation_id, rung, due_at, recipients, cancelled_at) VALUES ($id, $n, $due, $r, $cancelled)',
          { id: e.id, n: i + 1, due: rung.dueAt, r: JSON.stringify(rung.recipients), cancelled: stoppedBy ? e.createdAt : null });
        if (stoppedBy) return;
        for (const env of rung.envelopes) {
          this.sql.run('INSERT INTO escalation_envelopes (escalation_id, rung, id, type, recipient_user, recipient_device, content) VALUES ($e, $n, $id, $t, $u, $d, $c)',
            { e: e.id, n: i + 1, id: env.id, t: env.type, u: env.recipient.userId, d: env.recipient.deviceId, c: env.content });
        }
      });
      this.appendAudit(stoppedBy ? [...audit, cancelAudit({ escalationId: e.id, rungs: e.rungs.length, acknowledger: stoppedBy.acknowledger })] : audit);
      return 'held';
    });
  }

  async releaseDue(now: number, limit: number, auditOf: (rung: ReleasedRung) => AuditEvent, maxChars = Number.POSITIVE_INFINITY): Promise<ReleasedRung[]> {
    return this.sql.immediate(() => {
      const due = this.sql.all<RungRow>('SELECT * FROM escalation_rungs WHERE due_at <= $now AND released_at IS NULL AND cancelled_at IS NULL ORDER BY due_at, escalation_id, rung LIMIT $limit', { now, limit });
      const released: ReleasedRung[] = [];
      const audit: AuditEvent[] = [];
      let chars = 0;
      for (const rung of due) {
        if (chars > maxChars) break;
        const escalation = this.sql.get<EscalationRow>('SELECT * FROM escalations WHERE id = $id', { id: rung.escalation_id });
        if (!escalation) continue;
        const key = { e: rung.escalation_id, n: rung.rung };
        const held = this.sql.all<HeldEnvelopeRow>('SELECT id, type, recipient_user, recipient_device, content FROM escalation_envelopes WHERE escalation_id = $e AND rung = $n', key);
        chars += held.reduce((sum, e) => sum + e.content.length, 0);
        const envelopes = releasedEnvelopes({ userId: escalation.sender_user as DeviceAddress['userId'], deviceId: escalation.sender_device as DeviceAddress['deviceId'] }, held, now);
        const queueAudit: AuditEvent[] = [];
        const outcomes = this.queue.enqueueWithin(envelopes, releasedEnvelopeAudit(rung.escalation_id), UNLIMITED_QUEUE, queueAudit);
        const delivered = envelopes.filter((_e, i) => outcomes[i] === 'queued' || outcomes[i] === 'alreadyQueued').map((e) => e.recipient);
        this.sql.run('DELETE FROM escalation_envelopes WHERE escalation_id = $e AND rung = $n', key);
        this.sql.run('UPDATE escalation_rungs SET released_at = $now WHERE escalation_id = $e AND rung = $n', { ...key, now });
        const done = releasedRung(escalation, rung, delivered);
        released.push(done);
        audit.push(...queueAudit, auditOf(done));
      }
      this.appendAudit(audit);
      return released;
    });
  }

  async acknowledge(ack: VerifiedAcknowledgement, audit: (eligible: boolean) => readonly AuditEvent[], cancelAudit: (cancelled: CancelledEscalation) => AuditEvent): Promise<AcknowledgementOutcome> {
    return this.sql.immediate(() => {
      const inserted = this.sql.run(
        `INSERT OR IGNORE INTO acknowledgements (message_id, sender_user, acknowledger_user, acknowledger_device, acknowledged_at, recorded_at, signature)
         VALUES ($m, $s, $u, $d, $at, $rec, $sig)`,
        { m: ack.messageId, s: ack.sender, u: ack.acknowledger.userId, d: ack.acknowledger.deviceId, at: ack.acknowledgedAt, rec: ack.recordedAt, sig: ack.signature },
      ) > 0;
      const cancelled: CancelledEscalation[] = [];
      let eligible = false;
      for (const ladder of this.sql.all<EscalationRow>('SELECT * FROM escalations WHERE message_id = $m AND sender_user = $s ORDER BY id', { m: ack.messageId, s: ack.sender })) {
        const effect = acknowledgementEffect(ladder, this.sql.all<RungRow>('SELECT * FROM escalation_rungs WHERE escalation_id = $e', { e: ladder.id }), ack.acknowledger.userId);
        eligible ||= effect !== 'notEligible';
        if (effect !== 'stop') continue;
        this.sql.run('UPDATE escalations SET acknowledged_at = $at, acknowledged_by = $u WHERE id = $e', { at: ack.recordedAt, u: ack.acknowledger.userId, e: ladder.id });
        const count = this.sql.run('UPDATE escalation_rungs SET cancelled_at = $at WHERE escalation_id = $e AND released_at IS NULL AND cancelled_at IS NULL', { at: ack.recordedAt, e: ladder.id });
        this.sql.run('DELETE FROM escalation_envelopes WHERE escalation_id = $e', { e: ladder.id });
        cancelled.push({ escalationId: ladder.id, rungs: count, acknowledger: ack.acknowledger });
      }
      this.appendAudit([...(inserted ? audit(eligible) : []), ...cancelled.map(cancelAudit)]);
      return { recorded: inserted, eligible, cancelled };
    });
  }

  async purge(before: number, audit: (counts: PurgedCounts) => AuditEvent): Promise<PurgedCounts> {
    return this.sql.immediate(() => {
      const old = `(${purgeableLaddersSql('$before')})`;
      this.sql.run(`DELETE FROM escalation_envelopes WHERE escalation_id IN ${old}`, { before });
      this.sql.run(`DELETE FROM escalation_rungs WHERE escalation_id IN ${old}`, { before });
      const ladders = this.sql.run(`DELETE FROM escalations WHERE id IN ${old}`, { before });
      const acknowledgements = this.sql.run('DELETE FROM acknowledgements WHERE recorded_at < $before', { before });
      const counts = { ladders, acknowledgements };
      if (ladders + acknowledgements > 0) this.appendAudit([audit(counts)]);
      return counts;
    });
  }

  async state(escalationId: string, sender: DeviceAddress['userId']): Promise<EscalationState | undefined> {
    const row = this.sql.get<EscalationRow>('SELECT * FROM escalations WHERE id = $id AND sender_user = $s', { id: escalationId, s: sender });
    if (!row) return undefined;
    return escalationState(row, this.sql.all<RungRow>('SELECT * FROM escalation_rungs WHERE escalation_id = $e', { e: escalationId }));
  }

  async identityKey(device: DeviceAddress): Promise<string | undefined> {
    return this.sql.get<{ identity_key: string }>(
      `SELECT d.identity_key FROM devices d JOIN users u ON u.id = d.user_id
       WHERE d.user_id = $u AND d.device_id = $d AND d.revoked_at IS NULL AND u.status = 'active'`, { u: device.userId, d: device.deviceId },
    )?.identity_key;
  }
}
