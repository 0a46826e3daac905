/**
 * The envelope queues of the PostgreSQL store, shared by every relay instance. A send locks, for each
 * recipient device in a fixed order, first the device's row (FOR SHARE: a revocation, which updates it,
 * waits for the send to commit and then deletes what it queued, or the send waits for the revocation and
 * finds the device gone), then its queue's total row (FOR UPDATE: senders on any instance take a queue's
 * last places one after another, and a queue's envelopes commit in the order of their numbers, so a delivery
 * cursor never passes one still to come). Deletions take the same total rows through the queue triggers.
 */
import type pg from 'pg';
import type { DeviceAddress, DeviceId, EnvelopeId, UserId } from '../../../shared/ids';
import type { EnvelopeType } from '../../../shared/wire/envelope';
import type { AuditEvent } from '../../audit/AuditRecord';
import type { EnqueueOutcome, NewEnvelope, QueueLimits, StoredEnvelope } from '../RelayStore';
import { byRecipientDevice } from '../queueBatches';
import { GroupCommit } from '../GroupCommit';
import type { PostgresDatabase, Queryable } from './PostgresDatabase';

interface EnvelopeRow { seq: string; id: string; type: string; sender_user: string; sender_device: number; recipient_user: string; recipient_device: number; content: string; accepted_at: string }

interface EnvelopeBatch { readonly envelopes: readonly NewEnvelope[]; readonly auditOf: (envelope: NewEnvelope) => AuditEvent; readonly limits: QueueLimits }
interface AckBatch { readonly recipient: DeviceAddress; readonly ids: readonly EnvelopeId[]; readonly auditOf: (id: EnvelopeId) => AuditEvent }
/** One write of a group commit, in the order the requests came: sends and acknowledgements share it. */
type QueueWrite = { readonly send: EnvelopeBatch } | { readonly ack: AckBatch };

/** What a group commit's transaction needs from the store: its audit append, and who is told of what it queued. */
export interface QueueCommitHooks {
  /** Appends the batch's audit records inside its transaction (last: the audit lock is held until the commit). */
  appendAudit(client: pg.PoolClient, events: readonly AuditEvent[]): Promise<void>;
  /** Inside the transaction: tells the other relay instances (NOTIFY, sent at commit) which queues grew. */
  announce(client: pg.PoolClient, recipients: readonly DeviceAddress[]): Promise<void>;
}

/** Batches written at once by one instance: while both are in flight, new requests gather into the next. */
const BATCHES_IN_FLIGHT = 2;
/** Requests one batch takes at most (each a few statements per recipient: a batch stays well inside the statement timeout). */
const BATCH_ITEMS = 200;

export class PostgresEnvelopeQueue {
  readonly #writes: GroupCommit<QueueWrite, EnqueueOutcome[] | EnvelopeId[]> | undefined;

  /** With a database: group-committed enqueue and acknowledge; without, only the `…In` methods (tests). */
  constructor(db?: PostgresDatabase, hooks?: QueueCommitHooks) {
    this.#writes = db && hooks
      ? new GroupCommit((writes) => db.transaction((client) => this.#writeIn(client, writes, hooks)), { maxInFlight: BATCHES_IN_FLIGHT, maxItems: BATCH_ITEMS })
      : undefined;
  }

  enqueue(envelopes: readonly NewEnvelope[], auditOf: (envelope: NewEnvelope) => AuditEvent, limits: QueueLimits): Promise<EnqueueOutcome[]> {
    return this.#group().add({ send: { envelopes, auditOf, limits } }) as Promise<EnqueueOutcome[]>;
  }

  /** Resolves once the acknowledged envelopes are gone (with the next sends' commit, or a few milliseconds later). */
  acknowledge(recipient: DeviceAddress, ids: readonly EnvelopeId[], auditOf: (id: EnvelopeId) => AuditEvent): Promise<EnvelopeId[]> {
    return this.#group().add({ ack: { recipient, ids, auditOf } }, 'soon') as Promise<EnvelopeId[]>;
  }

  drain(): Promise<void> {
    return this.#writes?.drain() ?? Promise.resolve();
  }

  #group(): GroupCommit<QueueWrite, EnqueueOutcome[] | EnvelopeId[]> {
    if (!this.#writes) throw new Error('this queue was made without a database');
    return this.#writes;
  }

  /**
   * One group commit. Every queue the batch touches is locked first, all together in one order (device rows,
   * then queue totals), so two instances' batches wait for each other instead of deadlocking; then each write
   * in order, the audit records, and the announcement of the queues that grew.
   */
  async #writeIn(client: pg.PoolClient, writes: readonly QueueWrite[], hooks: QueueCommitHooks): Promise<(EnqueueOutcome[] | EnvelopeId[])[]> {
    const queues = new Map<string, DeviceAddress>();
    for (const write of writes) {
      const recipients = 'send' in write ? write.send.envelopes.map((e) => e.recipient) : [write.ack.recipient];
      for (const r of recipients) queues.set(`${r.userId}.${r.deviceId}`, r);
    }
    await lockQueues(client, [...queues.values()]);
    const audit: AuditEvent[] = [];
    const grown = new Map<string, DeviceAddress>();
    const results: (EnqueueOutcome[] | EnvelopeId[])[] = [];
    for (const write of writes) {
      if ('ack' in write) {
        results.push(await this.acknowledgeIn(client, write.ack.recipient, write.ack.ids, write.ack.auditOf, audit));
        continue;
      }
      const outcomes = await this.enqueueIn(client, write.send.envelopes, write.send.auditOf, write.send.limits, audit);
      outcomes.forEach((outcome, i) => {
        const recipient = (write.send.envelopes[i] as NewEnvelope).recipient;
        if (outcome === 'queued') grown.set(`${recipient.userId}.${recipient.deviceId}`, recipient);
      });
      results.push(outcomes);
    }
    // Totals made only to be locked (a queue acknowledged empty, or refused everything) go again.
    await client.query(
      `DELETE FROM queue_shares WHERE sender_user = '' AND envelopes = 0 AND (user_id, device_id) IN (SELECT * FROM unnest($1::text[], $2::int[]))`,
      [[...queues.values()].map((q) => q.userId), [...queues.values()].map((q) => q.deviceId)]);
    if (grown.size > 0) await hooks.announce(client, [...grown.values()]);
    await hooks.appendAudit(client, audit);
    return results;
  }

  /** One request's envelopes, inside the caller's transaction; the audit records of those queued go to `audit`. */
  async enqueueIn(client: pg.PoolClient, envelopes: readonly NewEnvelope[], auditOf: (envelope: NewEnvelope) => AuditEvent, limits: QueueLimits, audit: AuditEvent[]): Promise<EnqueueOutcome[]> {
    const outcomes: EnqueueOutcome[] = envelopes.map(() => 'queued');
    // One order of locks for every transaction: no two sends wait on each other's queues.
    for (const { recipient, indices, bytes } of byRecipientDevice(envelopes)) {
      const key = [recipient.userId, recipient.deviceId] as const;
      const active = await client.query(
        `SELECT 1 FROM devices d JOIN users u ON u.id = d.user_id
         WHERE d.user_id = $1 AND d.device_id = $2 AND d.revoked_at IS NULL AND u.status = 'active' FOR SHARE OF d`, [...key]);
      if (active.rowCount === 0) {
        for (const i of indices) outcomes[i] = (await this.#existing(client, envelopes[i] as NewEnvelope)) ?? 'deviceGone';
        continue;
      }
      // Locked whatever happened to it meanwhile (an acknowledgement emptying the queue deletes its total row):
      // the upsert always ends holding a row, which an insert-then-select could miss.
      const total = (await client.query<{ envelopes: string; bytes: string }>(`${LOCK_TOTALS} VALUES ($1, $2, '', 0, 0) ${LOCKED} RETURNING envelopes, bytes`, [...key])).rows[0];
      const fits = Number(total?.envelopes ?? 0) + indices.length <= limits.maxEnvelopes && Number(total?.bytes ?? 0) + bytes <= limits.maxBytes;
      // One request is one device's: its envelopes for this recipient are one account's. The recipient's own
      // account (copies of what they send elsewhere) is held to the whole queue only.
      const sender = (envelopes[indices[0] ?? 0] as NewEnvelope).sender.userId;
      const share = sender === recipient.userId ? undefined
        : (await client.query<{ envelopes: string; bytes: string }>('SELECT envelopes, bytes FROM queue_shares WHERE user_id = $1 AND device_id = $2 AND sender_user = $3', [...key, sender])).rows[0] ?? { envelopes: '0', bytes: '0' };
      const fitsShare = !share || (Number(share.envelopes) + indices.length <= limits.maxEnvelopesPerSender && Number(share.bytes) + bytes <= limits.maxBytesPerSender);
      const refusal = !fits ? 'queueFull' : !fitsShare ? 'senderShareFull' : undefined;
      for (const i of indices) {
        const envelope = envelopes[i] as NewEnvelope;
        // A full queue still takes back an envelope it already holds: that resend is accepted, not refused.
        if (refusal) {
          outcomes[i] = (await this.#existing(client, envelope)) ?? refusal;
          continue;
        }
        const inserted = await client.query(
          `INSERT INTO envelopes (id, recipient_user, recipient_device, sender_user, sender_device, type, content, accepted_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
          [envelope.id, envelope.recipient.userId, envelope.recipient.deviceId, envelope.sender.userId, envelope.sender.deviceId, envelope.type, envelope.content, envelope.acceptedAt],
        );
        if (inserted.rowCount === 1) audit.push(auditOf(envelope));
        else outcomes[i] = (await this.#existing(client, envelope)) ?? 'idTaken';
      }
      // The total row made to be locked stays only while the queue holds something.
      await client.query(`DELETE FROM queue_shares WHERE user_id = $1 AND device_id = $2 AND sender_user = '' AND envelopes = 0`, [...key]);
    }
    return outcomes;
  }

  async queued(db: Queryable, recipient: DeviceAddress, afterSeq: number, limit: number): Promise<StoredEnvelope[]> {
    const rows = await db.query<EnvelopeRow>('SELECT * FROM envelopes WHERE recipient_user = $1 AND recipient_device = $2 AND seq > $3 ORDER BY seq LIMIT $4', [recipient.userId, recipient.deviceId, afterSeq, limit]);
    return rows.rows.map(toEnvelope);
  }

  /** Removes what this recipient acknowledged of its own queue, inside the caller's transaction; returns those ids. */
  async acknowledgeIn(client: pg.PoolClient, recipient: DeviceAddress, ids: readonly EnvelopeId[], auditOf: (id: EnvelopeId) => AuditEvent, audit: AuditEvent[]): Promise<EnvelopeId[]> {
    if (ids.length === 0) return [];
    const deleted = await client.query<{ id: string }>('DELETE FROM envelopes WHERE id = ANY($1) AND recipient_user = $2 AND recipient_device = $3 RETURNING id', [[...ids], recipient.userId, recipient.deviceId]);
    const gone = new Set(deleted.rows.map((r) => r.id));
    // Each once, however often it was listed: one delivery, one audit record.
    const removed = ids.filter((id) => gone.delete(id));
    audit.push(...removed.map(auditOf));
    return removed;
  }

  /**
   * Deletes up to `limit` envelopes accepted before `before`, oldest first, inside the caller's transaction;
   * returns how many (the caller repeats until fewer come back: a year of backlog is not one statement).
   */
  async expireIn(client: pg.PoolClient, before: number, limit: number): Promise<number> {
    return (await client.query('DELETE FROM envelopes WHERE seq IN (SELECT seq FROM envelopes WHERE accepted_at < $1 ORDER BY accepted_at LIMIT $2)', [before, limit])).rowCount ?? 0;
  }

  /** Whether an envelope with this id is queued already: this very envelope, or another one. */
  async #existing(client: pg.PoolClient, envelope: NewEnvelope): Promise<'alreadyQueued' | 'idTaken' | undefined> {
    const row = (await client.query<EnvelopeRow>('SELECT * FROM envelopes WHERE id = $1', [envelope.id])).rows[0];
    if (!row) return undefined;
    const identical = row.content === envelope.content && row.type === envelope.type
      && row.sender_user === envelope.sender.userId && row.sender_device === envelope.sender.deviceId
      && row.recipient_user === envelope.recipient.userId && row.recipient_device === envelope.recipient.deviceId;
    return identical ? 'alreadyQueued' : 'idTaken';
  }
}

/** Locks the queues' device rows (shared) and total rows (exclusive), in one order, creating missing totals. */
async function lockQueues(client: pg.PoolClient, queues: readonly DeviceAddress[]): Promise<void> {
  // The order is PostgreSQL's (ORDER BY in each statement), the same for every transaction.
  const users = queues.map((q) => q.userId);
  const devices = queues.map((q) => q.deviceId);
  await client.query(
    `SELECT 1 FROM devices WHERE (user_id, device_id) IN (SELECT * FROM unnest($1::text[], $2::int[])) ORDER BY user_id, device_id FOR SHARE`, [users, devices]);
  await client.query(`${LOCK_TOTALS} SELECT u, d, '', 0, 0 FROM unnest($1::text[], $2::int[]) AS t(u, d) ORDER BY u, d ${LOCKED}`, [users, devices]);
}

/**
 * Each queue's total row, made if missing and locked either way: an upsert whose update changes nothing.
 * (Inserting with DO NOTHING and then selecting FOR UPDATE finds no row when a concurrent acknowledgement
 * deleted it in between, and then locks nothing: two sends could commit a queue out of seq order.)
 */
const LOCK_TOTALS = 'INSERT INTO queue_shares (user_id, device_id, sender_user, envelopes, bytes)';
const LOCKED = 'ON CONFLICT (user_id, device_id, sender_user) DO UPDATE SET envelopes = queue_shares.envelopes';

function toEnvelope(r: EnvelopeRow): StoredEnvelope {
  return {
    seq: Number(r.seq), id: r.id as EnvelopeId, type: r.type as EnvelopeType, content: r.content, acceptedAt: Number(r.accepted_at),
    sender: { userId: r.sender_user as UserId, deviceId: r.sender_device as DeviceId },
    recipient: { userId: r.recipient_user as UserId, deviceId: r.recipient_device as DeviceId },
  };
}
