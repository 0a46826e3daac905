/**
 * The envelope queues of the PostgreSQL store, shared by every relay instance: sends and acknowledgements
 * group-committed per instance, each batch written set-based in a fixed number of statements (queueBatch.ts
 * says how it locks), then the emptied totals removed, the other instances told which queues grew (NOTIFY,
 * sent at commit), and the audit records appended, in one transaction.
 */
import type pg from 'pg';
import type { DeviceAddress, DeviceId, EnvelopeId, UserId } from '../../../shared/ids';
import type { EnvelopeType } from '../../../shared/wire/envelope';
import type { AuditEvent } from '../../audit/AuditRecord';
import type { EnqueueOutcome, NewEnvelope, QueueLimits, StoredEnvelope } from '../RelayStore';
import { GroupCommit } from '../GroupCommit';
import { prepared, type PostgresDatabase, type Queryable } from './PostgresDatabase';
import { writeQueueBatch, type QueueWrite } from './queueBatch';

interface EnvelopeRow { seq: string; id: string; type: string; sender_user: string; sender_device: number; recipient_user: string; recipient_device: number; content: string; accepted_at: string }

/** What a group commit's transaction needs from the store: its audit append, and how the others are told of what it queued. */
export interface QueueCommitHooks {
  /** Appends the batch's audit records inside its transaction (last: the audit lock is held until the commit). */
  appendAudit(client: pg.PoolClient, events: readonly AuditEvent[]): Promise<void>;
  /** The NOTIFY channel and payloads that tell the other relay instances which queues grew. */
  announcements(recipients: readonly DeviceAddress[]): { readonly channel: string; readonly payloads: readonly string[] };
}

/** Batches written at once by one instance: while both are in flight, new requests gather into the next. */
const BATCHES_IN_FLIGHT = 2;
/** Requests one batch takes at most (a batch stays well inside the statement timeout). */
const BATCH_ITEMS = 200;
/** Queue reads one statement makes at most (each a page of up to 100 envelopes). */
const READ_ITEMS = 100;

/** One page of one device's queue: its envelopes after `afterSeq`, `limit` at most. */
export interface QueueRead { readonly recipient: DeviceAddress; readonly afterSeq: number; readonly limit: number }

export class PostgresEnvelopeQueue {
  readonly #writes: GroupCommit<QueueWrite, EnqueueOutcome[] | EnvelopeId[]> | undefined;
  /**
   * The reads of one turn of the event loop in one statement: a commit announces every queue it grew at once,
   * and each connected recipient's read was a round trip of its own (0.4 a message at 2,000 msg/s).
   */
  readonly #reads: GroupCommit<QueueRead, StoredEnvelope[]> | undefined;

  /** With a database: group-committed enqueue and acknowledge, reads together; without, only the `…In` methods (tests). */
  constructor(db?: PostgresDatabase, hooks?: QueueCommitHooks) {
    this.#writes = db && hooks
      ? new GroupCommit((writes) => db.transaction((client) => this.#writeIn(client, writes, hooks)), { maxInFlight: BATCHES_IN_FLIGHT, maxItems: BATCH_ITEMS })
      : undefined;
    this.#reads = db ? new GroupCommit((reads) => this.queuedIn(db, reads), { maxInFlight: BATCHES_IN_FLIGHT, maxItems: READ_ITEMS }) : undefined;
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

  /** One group commit: the batch, the emptied totals and the announcement in one statement, the audit records last. */
  async #writeIn(client: pg.PoolClient, writes: readonly QueueWrite[], hooks: QueueCommitHooks): Promise<(EnqueueOutcome[] | EnvelopeId[])[]> {
    const batch = await writeQueueBatch(client, writes);
    const { channel, payloads } = batch.grown.length > 0 ? hooks.announcements(batch.grown) : { channel: '', payloads: [] };
    await finishQueues(client, batch.queues, channel, payloads);
    await hooks.appendAudit(client, batch.audit);
    return batch.results;
  }

  /** One request's envelopes, inside the caller's transaction; the audit records of those queued go to `audit`. */
  async enqueueIn(client: pg.PoolClient, envelopes: readonly NewEnvelope[], auditOf: (envelope: NewEnvelope) => AuditEvent, limits: QueueLimits, audit: AuditEvent[]): Promise<EnqueueOutcome[]> {
    return (await this.#oneIn(client, { send: { envelopes, auditOf, limits } }, audit)) as EnqueueOutcome[];
  }

  /** One page of `recipient`'s queue, read with the others asked for in this turn of the event loop. */
  queued(recipient: DeviceAddress, afterSeq: number, limit: number): Promise<StoredEnvelope[]> {
    if (!this.#reads) throw new Error('this queue was made without a database');
    return this.#reads.add({ recipient, afterSeq, limit });
  }

  /** Pages of several queues in one statement, one list per read in order (each from one snapshot, as a read alone). */
  async queuedIn(db: Queryable, reads: readonly QueueRead[]): Promise<StoredEnvelope[][]> {
    const rows = await db.query<EnvelopeRow & { n: string }>(prepared('queue-read-pages',
      `SELECT q.n, e.seq, e.id, e.type, e.sender_user, e.sender_device, e.recipient_user, e.recipient_device, e.content, e.accepted_at
       FROM unnest($1::text[], $2::int[], $3::bigint[], $4::int[]) WITH ORDINALITY AS q(u, d, after_seq, page, n)
       CROSS JOIN LATERAL (
         SELECT seq, id, type, sender_user, sender_device, recipient_user, recipient_device, content, accepted_at FROM envelopes
         WHERE recipient_user = q.u AND recipient_device = q.d AND seq > q.after_seq ORDER BY seq LIMIT q.page
       ) e ORDER BY q.n, e.seq`,
      [reads.map((r) => r.recipient.userId), reads.map((r) => r.recipient.deviceId), reads.map((r) => r.afterSeq), reads.map((r) => r.limit)]));
    const pages: StoredEnvelope[][] = reads.map(() => []);
    for (const r of rows.rows) pages[Number(r.n) - 1]?.push(toEnvelope(r));
    return pages;
  }

  /** Removes what this recipient acknowledged of its own queue, inside the caller's transaction; returns those ids. */
  async acknowledgeIn(client: pg.PoolClient, recipient: DeviceAddress, ids: readonly EnvelopeId[], auditOf: (id: EnvelopeId) => AuditEvent, audit: AuditEvent[]): Promise<EnvelopeId[]> {
    return (await this.#oneIn(client, { ack: { recipient, ids, auditOf } }, audit)) as EnvelopeId[];
  }

  /** One write as a batch of its own, inside the caller's transaction (no announcement). */
  async #oneIn(client: pg.PoolClient, write: QueueWrite, audit: AuditEvent[]): Promise<EnqueueOutcome[] | EnvelopeId[]> {
    const batch = await writeQueueBatch(client, [write]);
    await finishQueues(client, batch.queues, '', []);
    audit.push(...batch.audit);
    return batch.results[0] ?? [];
  }

  /**
   * Deletes up to `limit` envelopes accepted before `before`, oldest first, inside the caller's transaction;
   * returns how many (the caller repeats until fewer come back: a year of backlog is not one statement).
   */
  async expireIn(client: pg.PoolClient, before: number, limit: number): Promise<number> {
    return (await client.query('DELETE FROM envelopes WHERE seq IN (SELECT seq FROM envelopes WHERE accepted_at < $1 ORDER BY accepted_at LIMIT $2)', [before, limit])).rowCount ?? 0;
  }
}

/**
 * The totals made only to be locked (a queue acknowledged empty, or refused everything) go again, and the
 * other instances are told which queues grew (`pg_notify` in the same statement: sent at commit).
 */
async function finishQueues(client: pg.PoolClient, queues: readonly DeviceAddress[], channel: string, payloads: readonly string[]): Promise<void> {
  await client.query(prepared('queue-finish',
    `WITH emptied AS (
       DELETE FROM queue_shares WHERE sender_user = '' AND envelopes = 0 AND (user_id, device_id) IN (SELECT * FROM unnest($1::text[], $2::int[]))
     ) SELECT pg_notify($3, p) FROM unnest($4::text[]) AS p`,
    [queues.map((q) => q.userId), queues.map((q) => q.deviceId), channel, [...payloads]]));
}

function toEnvelope(r: EnvelopeRow): StoredEnvelope {
  return {
    seq: Number(r.seq), id: r.id as EnvelopeId, type: r.type as EnvelopeType, content: r.content, acceptedAt: Number(r.accepted_at),
    sender: { userId: r.sender_user as UserId, deviceId: r.sender_device as DeviceId },
    recipient: { userId: r.recipient_user as UserId, deviceId: r.recipient_device as DeviceId },
  };
}
