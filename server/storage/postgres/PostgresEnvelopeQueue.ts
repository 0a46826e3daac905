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
import { QueueReadsOfTurn, type QueueRead } from '../queueReads';
import { binaryBigintArray, binaryIntArray, binaryTextArray } from './binaryArrays';

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

export class PostgresEnvelopeQueue {
  readonly #writes: GroupCommit<QueueWrite, EnqueueOutcome[] | EnvelopeId[]> | undefined;
  readonly #reads = new QueueReadsOfTurn<Queryable>(readMany);

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

  async drain(): Promise<void> {
    await this.#reads.flush();
    await this.#writes?.drain();
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

  /**
   * Up to `limit` envelopes of the recipient's queue after `afterSeq`, in order; read at the end of this turn of
   * the event loop together with the other reads asked for in it of the same database: one round trip for them.
   * Never a transaction's client: the read runs after the caller's turn, when that client may be in another.
   */
  queued(db: PostgresDatabase | pg.Pool, recipient: DeviceAddress, afterSeq: number, limit: number): Promise<StoredEnvelope[]> {
    return this.#reads.read(db, recipient, afterSeq, limit);
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
    [binaryTextArray(queues.map((q) => q.userId)), binaryIntArray(queues.map((q) => q.deviceId)), channel, binaryTextArray(payloads)]));
}

/**
 * Many devices' queue pages in one statement: each queue asked for (user, device, position to read after) by its
 * place in the arrays, at most `$4` envelopes each through the same index, in queue order.
 */
const QUEUED_FOR_MANY = `SELECT w.k, e.seq, e.id, e.type, e.sender_user, e.sender_device, e.recipient_user, e.recipient_device, e.content, e.accepted_at
  FROM unnest($1::text[], $2::int[], $3::bigint[]) WITH ORDINALITY AS w (u, d, after, k)
  CROSS JOIN LATERAL (SELECT * FROM envelopes WHERE recipient_user = w.u AND recipient_device = w.d AND seq > w.after ORDER BY seq LIMIT $4) e
  ORDER BY w.k, e.seq`;

/** Each read's page, in the order of `reads`, from one statement. */
async function readMany(db: Queryable, pageSize: number, reads: readonly QueueRead[]): Promise<StoredEnvelope[][]> {
  const values = [binaryTextArray(reads.map((r) => r.recipient.userId)), binaryIntArray(reads.map((r) => r.recipient.deviceId)), binaryBigintArray(reads.map((r) => r.afterSeq)), pageSize];
  const { rows } = await db.query<EnvelopeRow & { k: string }>(prepared('queue-read-many', QUEUED_FOR_MANY, values));
  const pages = reads.map((): StoredEnvelope[] => []);
  for (const row of rows) pages[Number(row.k) - 1]?.push(toEnvelope(row));
  return pages;
}

function toEnvelope(r: EnvelopeRow): StoredEnvelope {
  return {
    seq: Number(r.seq), id: r.id as EnvelopeId, type: r.type as EnvelopeType, content: r.content, acceptedAt: Number(r.accepted_at),
    sender: { userId: r.sender_user as UserId, deviceId: r.sender_device as DeviceId },
    recipient: { userId: r.recipient_user as UserId, deviceId: r.recipient_device as DeviceId },
  };
}
