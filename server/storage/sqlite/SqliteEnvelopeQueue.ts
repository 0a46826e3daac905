import { addressKey, type DeviceAddress, type DeviceId, type EnvelopeId, type UserId } from '../../../shared/ids';
import type { EnvelopeType } from '../../../shared/wire/envelope';
import type { AuditEvent } from '../../audit/AuditRecord';
import type { CommittedEnvelope, CommittedListener, EnqueueOutcome, NewEnvelope, QueueLimits, StoredEnvelope } from '../RelayStore';
import { RelayFailure } from '../../RelayFailure';
import { GroupCommit } from '../GroupCommit';
import type { SqliteDatabase } from './SqliteDatabase';
import { byRecipientDevice } from '../queueBatches';
import { QueueReadsOfTurn, type QueueRead } from '../queueReads';

interface EnvelopeRow { seq: number; id: string; type: string; sender_user: string; sender_device: number; recipient_user: string; recipient_device: number; content: string; accepted_at: number }

interface EnvelopeBatch {
  readonly envelopes: readonly NewEnvelope[];
  readonly auditOf: (envelope: NewEnvelope) => AuditEvent;
  readonly limits: QueueLimits;
  /**
   * Filled by the transaction with what it queued for the recipients `wanted` (emptied first: a retried commit runs it
   * again), when the caller asked for it.
   */
  readonly committed?: CommittedEnvelope[];
  readonly wanted?: (recipient: DeviceAddress) => boolean;
}
interface AckBatch { readonly recipient: DeviceAddress; readonly ids: readonly EnvelopeId[]; readonly auditOf: (id: EnvelopeId) => AuditEvent }
/** One write of the group commit, in the order the requests came: sends and acknowledgements share it. */
type QueueWrite = { readonly send: EnvelopeBatch } | { readonly ack: AckBatch };

/**
 * Many devices' queue pages in one statement: each queue asked for (user, device, position to read after) by its
 * place in the JSON list `$want`; at most `$offset` + 1 envelopes each (up to the seq of that many-th envelope
 * after the position, found in the same index), in queue order.
 */
const QUEUED_FOR_MANY = `WITH want (k, u, d, after) AS MATERIALIZED (SELECT key, value ->> 0, value ->> 1, value ->> 2 FROM json_each($want))
  SELECT want.k AS want, e.* FROM want JOIN envelopes e ON e.recipient_user = want.u AND e.recipient_device = want.d AND e.seq > want.after
  WHERE e.seq <= coalesce((SELECT x.seq FROM envelopes x WHERE x.recipient_user = want.u AND x.recipient_device = want.d AND x.seq > want.after
                           ORDER BY x.seq LIMIT 1 OFFSET $offset), 9223372036854775807)
  ORDER BY want.k, e.seq`;

/**
 * An envelope, queued only for a device that is still active; the check reads two indexes that cover it
 * (migration 24), not the device's and the account's rows.
 */
export const ENVELOPE_INSERT = `INSERT OR IGNORE INTO envelopes (id, recipient_user, recipient_device, sender_user, sender_device, type, content, accepted_at)
  SELECT $id, $ru, $rd, $su, $sd, $type, $content, $at
  WHERE EXISTS (SELECT 1 FROM devices d JOIN users u ON u.id = d.user_id
                WHERE d.user_id = $ru AND d.device_id = $rd AND d.revoked_at IS NULL AND u.status = 'active')`;

/** The last position in a device's queue (the index's last entry). */
const LAST_QUEUED = 'SELECT max(seq) AS seq FROM envelopes WHERE recipient_user = $u AND recipient_device = $d';

/** Appends audit records inside the caller's IMMEDIATE transaction (the store's hash-chained audit log). */
export type AuditAppend = (events: readonly AuditEvent[]) => void;

/**
 * The envelope queues of `SqliteRelayStore`: sends, reads, acknowledgements and expiry. Every write is one
 * IMMEDIATE transaction that also appends its audit records, as every store mutation does.
 */
export class SqliteEnvelopeQueue {
  readonly #sql: SqliteDatabase;
  readonly #append: AuditAppend;
  /**
   * Envelopes and acknowledgements are group-committed: one transaction (one fsync) per event-loop turn for
   * every send in it; acknowledgements (nobody waits on them to answer a client) ride along with the next
   * sends, or are written on their own a few milliseconds later.
   */
  readonly #writes: GroupCommit<QueueWrite, EnqueueOutcome[] | EnvelopeId[]>;
  /**
   * Queue reads of a turn, read together: alone, each cost a statement and a read transaction (~11 µs of CPU in a
   * probe with 2,000 devices); together, ~2.5 µs.
   */
  readonly #reads = new QueueReadsOfTurn<SqliteDatabase>((sql, pageSize, reads) => readMany(sql, pageSize, reads));

  constructor(sql: SqliteDatabase, append: AuditAppend) {
    this.#sql = sql;
    this.#append = append;
    this.#writes = new GroupCommit((writes: readonly QueueWrite[]) => this.#sql.immediate(() => this.#writeIn(writes)), { retryAlone: freesSpace });
  }

  /**
   * `committed` gets what was queued, with each envelope's predecessor in its queue, read inside the write
   * transaction: SQLite runs one write transaction at a time (whichever connection, the admin CLI's too), and
   * positions (AUTOINCREMENT) grow in commit order, so no envelope can later land between the two.
   */
  async enqueue(envelopes: readonly NewEnvelope[], auditOf: (envelope: NewEnvelope) => AuditEvent, limits: QueueLimits, committed?: CommittedListener): Promise<EnqueueOutcome[]> {
    const batch: EnvelopeBatch = { envelopes, auditOf, limits, ...(committed ? { committed: [], wanted: committed.wants } : {}) };
    const outcomes = await this.#writes.add({ send: batch }) as EnqueueOutcome[];
    if (committed && batch.committed && batch.committed.length > 0) committed.take(batch.committed);
    return outcomes;
  }

  /**
   * Up to `limit` envelopes of the recipient's queue after `afterSeq`, in order; read at the end of this turn
   * of the event loop together with the other reads asked for in it (what was committed until then is seen).
   */
  queued(recipient: DeviceAddress, afterSeq: number, limit: number): Promise<StoredEnvelope[]> {
    return this.#reads.read(this.#sql, recipient, afterSeq, limit);
  }

  /** Resolves once the acknowledged envelopes are gone from the queue (a few milliseconds later, at most). */
  acknowledge(recipient: DeviceAddress, ids: readonly EnvelopeId[], auditOf: (id: EnvelopeId) => AuditEvent): Promise<EnvelopeId[]> {
    return this.#writes.add({ ack: { recipient, ids, auditOf } }, 'soon') as Promise<EnvelopeId[]>;
  }

  expire(before: number, auditOf: (count: number) => AuditEvent): number {
    return this.#sql.immediate(() => {
      const count = this.#sql.run('DELETE FROM envelopes WHERE accepted_at < $before', { before });
      if (count > 0) this.#append([auditOf(count)]);
      return count;
    });
  }

  /** Answers the reads and writes the sends and acknowledgements already taken. */
  async drain(): Promise<void> {
    await this.#reads.flush();
    await this.#writes.drain();
  }

  // --- Inside transactions ---------------------------------------------------------------------------

  /** Queues envelopes inside the caller's IMMEDIATE transaction (an escalation's release); their audit records go to `audit`. */
  enqueueWithin(envelopes: readonly NewEnvelope[], auditOf: (envelope: NewEnvelope) => AuditEvent, limits: QueueLimits, audit: AuditEvent[]): EnqueueOutcome[] {
    return this.#enqueueIn({ envelopes, auditOf, limits }, audit);
  }

  /** One group commit: each write in order, its audit records appended once at the end. */
  #writeIn(writes: readonly QueueWrite[]): (EnqueueOutcome[] | EnvelopeId[])[] {
    const audit: AuditEvent[] = [];
    const results = writes.map((write) => ('send' in write ? this.#enqueueIn(write.send, audit) : this.#acknowledgeIn(write.ack, audit)));
    this.#append(audit);
    return results;
  }

  /**
   * One request's sends, in order, each envelope with its outcome. The queue limits are checked here,
   * inside the write transaction that serialises every writer (and `queue_shares`, each queue's total and each
   * sender's share of it, already counts what the batches before this one queued), so concurrent senders cannot together push a queue past
   * its limit, nor one account's devices push its share of a queue past the share.
   */
  #enqueueIn({ envelopes, auditOf, limits, committed, wanted }: EnvelopeBatch, audit: AuditEvent[]): EnqueueOutcome[] {
    const outcomes: EnqueueOutcome[] = envelopes.map(() => 'queued');
    committed?.splice(0);
    /**
     * Per recipient device whose committed envelopes are wanted: the last position in its queue so far in this
     * transaction (a delivery that is not caught up reads its queue anyway: no predecessor is read for it).
     */
    const tails = new Map<string, number>();
    for (const { recipient, indices, bytes } of byRecipientDevice(envelopes)) {
      const key = { u: recipient.userId, d: recipient.deviceId };
      const usage = this.#sql.get<{ envelopes: number; bytes: number }>("SELECT envelopes, bytes FROM queue_shares WHERE user_id = $u AND device_id = $d AND sender_user = ''", key);
      const fits = (usage?.envelopes ?? 0) + indices.length <= limits.maxEnvelopes && (usage?.bytes ?? 0) + bytes <= limits.maxBytes;
      // A batch is one request of one device: its envelopes for this recipient device are one account's.
      // The recipient's own account (copies of what they send elsewhere) is held to the whole queue only.
      const sender = (envelopes[indices[0] ?? 0] as NewEnvelope).sender.userId;
      const share = sender === recipient.userId ? undefined : this.#sql.get<{ envelopes: number; bytes: number }>(
        'SELECT envelopes, bytes FROM queue_shares WHERE user_id = $u AND device_id = $d AND sender_user = $s', { ...key, s: sender },
      ) ?? { envelopes: 0, bytes: 0 };
      const fitsShare = !share || (share.envelopes + indices.length <= limits.maxEnvelopesPerSender && share.bytes + bytes <= limits.maxBytesPerSender);
      // A full queue still takes back an envelope it already holds: that resend is accepted, not refused.
      const refusal = !fits ? 'queueFull' : !fitsShare ? 'senderShareFull' : undefined;
      if (refusal) for (const i of indices) outcomes[i] = this.#existing(envelopes[i] as NewEnvelope) ?? refusal;
      // The queue's total (kept by the triggers in this transaction) says whether there is a last envelope to look up.
      else if (committed && wanted?.(recipient)) tails.set(addressKey(recipient), (usage?.envelopes ?? 0) > 0 ? this.#sql.get<{ seq: number }>(LAST_QUEUED, key)?.seq ?? 0 : 0);
    }
    envelopes.forEach((envelope, i) => {
      if (outcomes[i] !== 'queued') return;
      // Queued only for a device that is still active at commit time (a revocation may have landed
      // since the request was checked; its queue must stay empty, and the sender hears of it).
      const seq = this.#sql.insert(
        ENVELOPE_INSERT,
        { id: envelope.id, ru: envelope.recipient.userId, rd: envelope.recipient.deviceId, su: envelope.sender.userId, sd: envelope.sender.deviceId, type: envelope.type, content: envelope.content, at: envelope.acceptedAt },
      );
      if (seq === undefined) {
        outcomes[i] = this.#existing(envelope) ?? 'deviceGone';
        return;
      }
      audit.push(auditOf(envelope));
      const tail = addressKey(envelope.recipient);
      const after = tails.get(tail);
      if (committed && after !== undefined) {
        committed.push({ ...envelope, seq, after });
        tails.set(tail, seq);
      }
    });
    return outcomes;
  }

  /** One device's acknowledgements: the ids it removed from its own queue. */
  #acknowledgeIn({ recipient, ids, auditOf }: AckBatch, audit: AuditEvent[]): EnvelopeId[] {
    const removed: EnvelopeId[] = [];
    for (const id of ids) {
      const changes = this.#sql.run('DELETE FROM envelopes WHERE id = $id AND recipient_user = $u AND recipient_device = $d', { id, u: recipient.userId, d: recipient.deviceId });
      if (changes === 1) removed.push(id);
    }
    audit.push(...removed.map(auditOf));
    return removed;
  }

  /** Whether an envelope with this id is queued already: this very envelope, or another one. */
  #existing(envelope: NewEnvelope): 'alreadyQueued' | 'idTaken' | undefined {
    const row = this.#sql.get<{ sender_user: string; sender_device: number; recipient_user: string; recipient_device: number; type: string; same: number }>(
      'SELECT sender_user, sender_device, recipient_user, recipient_device, type, content = $content AS same FROM envelopes WHERE id = $id',
      { id: envelope.id, content: envelope.content },
    );
    if (!row) return undefined;
    const identical = row.same === 1 && row.type === envelope.type
      && row.sender_user === envelope.sender.userId && row.sender_device === envelope.sender.deviceId
      && row.recipient_user === envelope.recipient.userId && row.recipient_device === envelope.recipient.deviceId;
    return identical ? 'alreadyQueued' : 'idTaken';
  }
}

/**
 * Which writes of a group commit that failed are tried again without the rest: on a full disk the
 * acknowledgements (they delete, and free space), not the sends that filled it. Any other failure fails
 * them all.
 */
function freesSpace(error: unknown, write: QueueWrite): boolean {
  return error instanceof RelayFailure && error.code === 'RELAY_STORAGE_FULL' && 'ack' in write;
}

/** Each read's page, in the order of `reads`, from one statement. */
function readMany(sql: SqliteDatabase, pageSize: number, reads: readonly QueueRead[]): StoredEnvelope[][] {
  const want = JSON.stringify(reads.map((r) => [r.recipient.userId, r.recipient.deviceId, r.afterSeq]));
  const pages = reads.map((): StoredEnvelope[] => []);
  for (const row of sql.all<EnvelopeRow & { want: number }>(QUEUED_FOR_MANY, { want, offset: pageSize - 1 })) pages[row.want]?.push(toEnvelope(row));
  return pages;
}

function toEnvelope(r: EnvelopeRow): StoredEnvelope {
  return {
    seq: r.seq, id: r.id as EnvelopeId, type: r.type as EnvelopeType, content: r.content, acceptedAt: r.accepted_at,
    sender: { userId: r.sender_user as UserId, deviceId: r.sender_device as DeviceId },
    recipient: { userId: r.recipient_user as UserId, deviceId: r.recipient_device as DeviceId },
  };
}
