/**
 * The PostgreSQL store's acknowledgements and escalation ladders (EscalationStore.ts), shared by every relay
 * instance. A release claims its due rungs with FOR UPDATE SKIP LOCKED, queues their envelopes, removes them
 * from the hold and marks the rungs in one transaction: two instances never release one rung, and an instance
 * that dies mid-release leaves the rung due for the next. An acknowledgement locks the ladder's rungs before
 * cancelling them, so it waits for a release under way (and then cancels only what is left) or stops it; a hold
 * and an acknowledgement of the same message take turns (lockKey), so a ladder held late starts stopped.
 */
import type pg from 'pg';
import type { DeviceAddress, UserId } from '../../../shared/ids';
import type { EscalationState } from '../../../shared/wire/escalation';
import type { AuditEvent } from '../../audit/AuditRecord';
import { acknowledgementEffect, type AcknowledgementOutcome, type CancelledEscalation, type EscalationStore, type HoldLimits, type HoldOutcome, type NewEscalation, type PurgedCounts, type ReleasedRung, type VerifiedAcknowledgement } from '../EscalationStore';
import { escalationState, releasedEnvelopeAudit, releasedEnvelopes, releasedRung, sameLadder, UNLIMITED_QUEUE, earliestAcknowledgement, deviceUsageSql, holdRefusal, ladderDevices, purgeableLaddersSql, senderUsageSql, type AcknowledgementRow, type DeviceUsageRow, type SenderUsageRow, type EscalationRow, type HeldEnvelopeRow, type RungRow } from '../escalationRows';
import type { PostgresDatabase } from './PostgresDatabase';
import type { PostgresEnvelopeQueue } from './PostgresEnvelopeQueue';

/** What a release needs of the store: its audit append, and how the other instances hear which queues grew. */
export interface EscalationHooks {
  appendAudit(client: pg.PoolClient, events: readonly AuditEvent[]): Promise<void>;
  announce(client: pg.PoolClient, recipients: readonly DeviceAddress[]): Promise<void>;
}

/** Key class of the per-message advisory locks ("ack" in ASCII), apart from the other advisory locks' keys. */
const MESSAGE_LOCK_CLASS = 0x61636b;

/**
 * Serialises a hold and an acknowledgement of one message (and sender) (key "<message> <sender>"): each reads
 * what the other writes (the ladder, the acknowledgement), and under READ COMMITTED two at once would each miss
 * the other's row; and a sender's holds (key "sender <user>"), each counting what the others hold.
 */
async function lockKey(client: pg.PoolClient, key: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MESSAGE_LOCK_CLASS, key]);
}

export class PostgresEscalations implements EscalationStore {
  constructor(
    private readonly db: PostgresDatabase,
    private readonly queue: PostgresEnvelopeQueue,
    private readonly hooks: EscalationHooks,
  ) {}

  async hold(e: NewEscalation, limits: HoldLimits, audit: readonly AuditEvent[], cancelAudit: (cancelled: CancelledEscalation) => AuditEvent): Promise<HoldOutcome> {
    return this.db.transaction(async (client) => {
      // The sender's holds take turns (what it holds is counted before each), then the message's hold and acknowledgements.
      await lockKey(client, `sender ${e.sender.userId}`);
      await lockKey(client, `${e.messageId} ${e.sender.userId}`);
      const existing = (await client.query<EscalationRow>('SELECT * FROM escalations WHERE id = $1', [e.id])).rows[0];
      if (existing) return sameLadder(existing, e) ? 'alreadyHeld' : 'idTaken';
      const sender = (await client.query<SenderUsageRow>(senderUsageSql('$1'), [e.sender.userId])).rows[0] ?? { ladders: 0, held_chars: 0 };
      const usage = new Map<string, DeviceUsageRow>();
      for (const device of ladderDevices(e)) {
        usage.set(`${device.userId}.${device.deviceId}`, (await client.query<DeviceUsageRow>(deviceUsageSql('$1', '$2::int', '$3'), [device.userId, device.deviceId, e.sender.userId])).rows[0] as DeviceUsageRow);
      }
      const refusal = holdRefusal(e, limits, sender, (device) => usage.get(`${device.userId}.${device.deviceId}`) as DeviceUsageRow);
      if (refusal) return refusal;
      const stoppedBy = earliestAcknowledgement(e, (await client.query<AcknowledgementRow>(
        'SELECT acknowledger_user, acknowledger_device, recorded_at FROM acknowledgements WHERE message_id = $1 AND sender_user = $2', [e.messageId, e.sender.userId])).rows);
      const inserted = await client.query(
        `INSERT INTO escalations (id, message_id, sender_user, sender_device, recipients, created_at, acknowledged_at, acknowledged_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
        [e.id, e.messageId, e.sender.userId, e.sender.deviceId, JSON.stringify(e.recipients), e.createdAt, stoppedBy?.at ?? null, stoppedBy?.acknowledger.userId ?? null]);
      if (inserted.rowCount === 0) {
        const existing = (await client.query<EscalationRow>('SELECT * FROM escalations WHERE id = $1', [e.id])).rows[0];
        return existing && sameLadder(existing, e) ? 'alreadyHeld' : 'idTaken';
      }
      for (const [i, rung] of e.rungs.entries()) {
        await client.query('INSERT INTO escalation_rungs (escalation_id, rung, due_at, recipients, cancelled_at) VALUES ($1, $2, $3, $4, $5)',
          [e.id, i + 1, rung.dueAt, JSON.stringify(rung.recipients), stoppedBy ? e.createdAt : null]);
        if (stoppedBy) continue;
        await client.query(
          `INSERT INTO escalation_envelopes (escalation_id, rung, id, type, recipient_user, recipient_device, content)
           SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::int[], $7::text[])`,
          [e.id, i + 1, rung.envelopes.map((x) => x.id), rung.envelopes.map((x) => x.type), rung.envelopes.map((x) => x.recipient.userId), rung.envelopes.map((x) => x.recipient.deviceId), rung.envelopes.map((x) => x.content)],
        );
      }
      await this.hooks.appendAudit(client, stoppedBy ? [...audit, cancelAudit({ escalationId: e.id, rungs: e.rungs.length, acknowledger: stoppedBy.acknowledger })] : audit);
      return 'held';
    });
  }

  async releaseDue(now: number, limit: number, auditOf: (rung: ReleasedRung) => AuditEvent, maxChars = Number.POSITIVE_INFINITY): Promise<ReleasedRung[]> {
    return this.db.transaction(async (client) => {
      const due = (await client.query<RungRow>(
        `SELECT * FROM escalation_rungs WHERE due_at <= $1 AND released_at IS NULL AND cancelled_at IS NULL
         ORDER BY due_at, escalation_id, rung LIMIT $2 FOR UPDATE SKIP LOCKED`, [now, limit])).rows;
      const released: ReleasedRung[] = [];
      const audit: AuditEvent[] = [];
      let chars = 0;
      for (const rung of due) {
        if (chars > maxChars) break;
        const escalation = (await client.query<EscalationRow>('SELECT * FROM escalations WHERE id = $1', [rung.escalation_id])).rows[0];
        if (!escalation) continue;
        const held = (await client.query<HeldEnvelopeRow>('SELECT id, type, recipient_user, recipient_device, content FROM escalation_envelopes WHERE escalation_id = $1 AND rung = $2', [rung.escalation_id, rung.rung])).rows;
        chars += held.reduce((sum, e) => sum + e.content.length, 0);
        const envelopes = releasedEnvelopes({ userId: escalation.sender_user as UserId, deviceId: escalation.sender_device as DeviceAddress['deviceId'] }, held, now);
        const outcomes = envelopes.length > 0 ? await this.queue.enqueueIn(client, envelopes, releasedEnvelopeAudit(rung.escalation_id), UNLIMITED_QUEUE, audit) : [];
        const delivered = envelopes.filter((_e, i) => outcomes[i] === 'queued' || outcomes[i] === 'alreadyQueued').map((e) => e.recipient);
        await client.query('DELETE FROM escalation_envelopes WHERE escalation_id = $1 AND rung = $2', [rung.escalation_id, rung.rung]);
        await client.query('UPDATE escalation_rungs SET released_at = $3 WHERE escalation_id = $1 AND rung = $2', [rung.escalation_id, rung.rung, now]);
        const done = releasedRung(escalation, rung, delivered);
        released.push(done);
        audit.push(auditOf(done));
      }
      const grown = released.flatMap((r) => r.delivered);
      if (grown.length > 0) await this.hooks.announce(client, grown);
      await this.hooks.appendAudit(client, audit);
      return released;
    });
  }

  async acknowledge(ack: VerifiedAcknowledgement, audit: (eligible: boolean) => readonly AuditEvent[], cancelAudit: (cancelled: CancelledEscalation) => AuditEvent): Promise<AcknowledgementOutcome> {
    return this.db.transaction(async (client) => {
      await lockKey(client, `${ack.messageId} ${ack.sender}`);
      const inserted = ((await client.query(
        `INSERT INTO acknowledgements (message_id, sender_user, acknowledger_user, acknowledger_device, acknowledged_at, recorded_at, signature)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
        [ack.messageId, ack.sender, ack.acknowledger.userId, ack.acknowledger.deviceId, ack.acknowledgedAt, ack.recordedAt, ack.signature],
      )).rowCount ?? 0) > 0;
      const cancelled: CancelledEscalation[] = [];
      let eligible = false;
      const ladders = (await client.query<EscalationRow>('SELECT * FROM escalations WHERE message_id = $1 AND sender_user = $2 ORDER BY id FOR UPDATE', [ack.messageId, ack.sender])).rows;
      for (const ladder of ladders) {
        // Locks the rungs: a release under way finishes first, and what it released is seen released here.
        const rungs = (await client.query<RungRow>('SELECT * FROM escalation_rungs WHERE escalation_id = $1 ORDER BY rung FOR UPDATE', [ladder.id])).rows;
        const effect = acknowledgementEffect(ladder, rungs, ack.acknowledger.userId);
        eligible ||= effect !== 'notEligible';
        if (effect !== 'stop') continue;
        await client.query('UPDATE escalations SET acknowledged_at = $2, acknowledged_by = $3 WHERE id = $1', [ladder.id, ack.recordedAt, ack.acknowledger.userId]);
        const count = (await client.query('UPDATE escalation_rungs SET cancelled_at = $2 WHERE escalation_id = $1 AND released_at IS NULL AND cancelled_at IS NULL', [ladder.id, ack.recordedAt])).rowCount ?? 0;
        await client.query('DELETE FROM escalation_envelopes WHERE escalation_id = $1', [ladder.id]);
        cancelled.push({ escalationId: ladder.id, rungs: count, acknowledger: ack.acknowledger });
      }
      await this.hooks.appendAudit(client, [...(inserted ? audit(eligible) : []), ...cancelled.map(cancelAudit)]);
      return { recorded: inserted, eligible, cancelled };
    });
  }

  async purge(before: number, audit: (counts: PurgedCounts) => AuditEvent): Promise<PurgedCounts> {
    return this.db.transaction(async (client) => {
      const ids = (await client.query<{ id: string }>(`${purgeableLaddersSql('$1')} FOR UPDATE`, [before])).rows.map((r) => r.id);
      // Rungs and their envelopes go with their ladder (ON DELETE CASCADE).
      await client.query('DELETE FROM escalation_envelopes WHERE escalation_id = ANY($1::text[])', [ids]);
      const ladders = (await client.query('DELETE FROM escalations WHERE id = ANY($1::text[])', [ids])).rowCount ?? 0;
      const acknowledgements = (await client.query('DELETE FROM acknowledgements WHERE recorded_at < $1', [before])).rowCount ?? 0;
      const counts = { ladders, acknowledgements };
      if (ladders + acknowledgements > 0) await this.hooks.appendAudit(client, [audit(counts)]);
      return counts;
    });
  }

  async state(escalationId: string, sender: UserId): Promise<EscalationState | undefined> {
    const row = (await this.db.query<EscalationRow>('SELECT * FROM escalations WHERE id = $1 AND sender_user = $2', [escalationId, sender])).rows[0];
    if (!row) return undefined;
    return escalationState(row, (await this.db.query<RungRow>('SELECT * FROM escalation_rungs WHERE escalation_id = $1', [escalationId])).rows);
  }

  /** Measured at most once a minute: the database's clock at the middle of a round trip, less this process's then (0 within a second). */
  #skew: { at: number; ms: number } | undefined;

  async clockSkewMs(): Promise<number> {
    const before = Date.now();
    if (this.#skew && before - this.#skew.at < 60_000) return this.#skew.ms;
    const row = (await this.db.query<{ ms: string }>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms')).rows[0];
    const after = Date.now();
    const measured = row ? Number(row.ms) - Math.round((before + after) / 2) : 0;
    // Within a second is the round trip's noise, and nothing an escalation would notice.
    const ms = Math.abs(measured) < 1000 ? 0 : measured;
    this.#skew = { at: after, ms };
    return ms;
  }

  async identityKey(device: DeviceAddress): Promise<string | undefined> {
    return (await this.db.query<{ identity_key: string }>(
      `SELECT d.identity_key FROM devices d JOIN users u ON u.id = d.user_id
       WHERE d.user_id = $1 AND d.device_id = $2 AND d.revoked_at IS NULL AND u.status = 'active'`, [device.userId, device.deviceId],
    )).rows[0]?.identity_key;
  }
}
