/**
 * One group commit of the PostgreSQL queues, written set-based: a fixed number of statements per batch,
 * whatever it holds (it was five round trips per recipient device, so a batch of 200 sends took a thousand,
 * one after another on one connection, and they bounded the relay's throughput on PostgreSQL).
 *
 * Locks, in one order for every transaction (so two instances' batches wait for each other instead of
 * deadlocking): the send recipients' device rows (FOR SHARE: a revocation, which updates the row, waits for
 * the batch to commit and then deletes what it queued, or the batch waits for it and finds the device gone),
 * then every touched queue's total row (made if missing, locked either way: senders on any instance take a
 * queue's last places one after another, and a queue's envelopes commit in the order of their numbers, so a
 * delivery cursor never passes one still to come). Then the acknowledgements, then the sends, decided in
 * the order they came against totals read under those locks.
 */
import type pg from 'pg';
import type { DeviceAddress, EnvelopeId } from '../../../shared/ids';
import type { AuditEvent } from '../../audit/AuditRecord';
import type { EnqueueOutcome, NewEnvelope, QueueLimits } from '../RelayStore';
import { byRecipientDevice, ciphertextBytes } from '../queueBatches';
import { prepared } from './PostgresDatabase';
import { binaryBigintArray, binaryBooleanArray, binaryIntArray, binaryTextArray } from './binaryArrays';

export interface EnvelopeBatch { readonly envelopes: readonly NewEnvelope[]; readonly auditOf: (envelope: NewEnvelope) => AuditEvent; readonly limits: QueueLimits }
export interface AckBatch { readonly recipient: DeviceAddress; readonly ids: readonly EnvelopeId[]; readonly auditOf: (id: EnvelopeId) => AuditEvent }
/** One write of a group commit, in the order the requests came: sends and acknowledgements share it. */
export type QueueWrite = { readonly send: EnvelopeBatch } | { readonly ack: AckBatch };

export interface BatchResult {
  /** Per write, in order: a send's outcomes, or the ids an acknowledgement removed. */
  readonly results: (EnqueueOutcome[] | EnvelopeId[])[];
  /** The audit records of what happened, in the order of the writes. */
  readonly audit: AuditEvent[];
  /** Every queue the batch touched, and those that grew. */
  readonly queues: readonly DeviceAddress[];
  readonly grown: readonly DeviceAddress[];
}

interface Counts { envelopes: number; bytes: number }
interface StoredIdentity { id: string; type: string; sender_user: string; sender_device: number; recipient_user: string; recipient_device: number; content: string }

const key = (a: DeviceAddress): string => `${a.userId}.${a.deviceId}`;
const shareKey = (a: DeviceAddress, sender: string): string => `${key(a)} ${sender}`;
const columns = (queues: readonly DeviceAddress[]) => [binaryTextArray(queues.map((q) => q.userId)), binaryIntArray(queues.map((q) => q.deviceId))];

/**
 * Each queue's total row, made if missing and locked either way: an upsert whose update changes nothing.
 * (Inserting with DO NOTHING and then selecting FOR UPDATE finds no row when a concurrent acknowledgement
 * deleted it in between, and then locks nothing: two sends could commit a queue out of seq order.)
 */
const LOCK_TOTALS = `INSERT INTO queue_shares (user_id, device_id, sender_user, envelopes, bytes)
  SELECT u, d, '', 0, 0 FROM unnest($1::text[], $2::int[]) AS t(u, d) ORDER BY u, d
  ON CONFLICT (user_id, device_id, sender_user) DO UPDATE SET envelopes = queue_shares.envelopes
  RETURNING user_id, device_id, envelopes, bytes`;

/** Writes one batch inside the caller's transaction (the audit records and the announcement are the caller's). */
export async function writeQueueBatch(client: pg.PoolClient, writes: readonly QueueWrite[]): Promise<BatchResult> {
  const queues = new Map<string, DeviceAddress>();
  const sendQueues = new Map<string, DeviceAddress>();
  for (const write of writes) {
    if ('ack' in write) queues.set(key(write.ack.recipient), write.ack.recipient);
    else for (const e of write.send.envelopes) sendQueues.set(key(e.recipient), e.recipient);
  }
  for (const [k, q] of sendQueues) queues.set(k, q);

  // The row order is PostgreSQL's (ORDER BY in each statement), the same for every transaction.
  const receiving = new Set<string>();
  if (sendQueues.size > 0) {
    const rows = await client.query<{ user_id: string; device_id: number; active: boolean }>(prepared('queue-lock-devices',
      `SELECT d.user_id, d.device_id, d.revoked_at IS NULL AND u.status = 'active' AS active
       FROM devices d JOIN users u ON u.id = d.user_id
       WHERE (d.user_id, d.device_id) IN (SELECT * FROM unnest($1::text[], $2::int[]))
       ORDER BY d.user_id, d.device_id FOR SHARE OF d`, columns([...sendQueues.values()])));
    for (const r of rows.rows) if (r.active) receiving.add(`${r.user_id}.${r.device_id}`);
  }
  const totals = new Map<string, Counts>();
  for (const r of (await client.query<{ user_id: string; device_id: number; envelopes: string; bytes: string }>(prepared('queue-lock-totals', LOCK_TOTALS, columns([...queues.values()])))).rows) {
    totals.set(`${r.user_id}.${r.device_id}`, { envelopes: Number(r.envelopes), bytes: Number(r.bytes) });
  }

  const results: (EnqueueOutcome[] | EnvelopeId[] | undefined)[] = writes.map(() => undefined);
  const auditByWrite: AuditEvent[][] = writes.map(() => []);
  const removedBy = await acknowledge(client, writes, totals, results, auditByWrite);
  const grown = await enqueue(client, writes, { receiving, totals, removedBy }, results, auditByWrite);
  return {
    results: results.map((r) => r ?? []),
    audit: auditByWrite.flat(),
    queues: [...queues.values()],
    grown: [...grown.values()],
  };
}

/**
 * Every acknowledgement of the batch in one statement; each id removed once, for the first write that lists it.
 * Returns what each removed (the write's position and the envelope as it was): a send earlier in the batch
 * than that acknowledgement still found it queued.
 */
async function acknowledge(client: pg.PoolClient, writes: readonly QueueWrite[], totals: Map<string, Counts>, results: (EnqueueOutcome[] | EnvelopeId[] | undefined)[], audit: AuditEvent[][]): Promise<Map<string, { write: number; row: StoredIdentity }>> {
  const removedBy = new Map<string, { write: number; row: StoredIdentity }>();
  const acks = writes.flatMap((w, i) => ('ack' in w && w.ack.ids.length > 0 ? [{ i, ack: w.ack }] : []));
  for (const [i, w] of writes.entries()) if ('ack' in w && w.ack.ids.length === 0) results[i] = [];
  if (acks.length === 0) return removedBy;
  const listed = acks.flatMap(({ ack }) => ack.ids.map((id) => [id, ack.recipient.userId, ack.recipient.deviceId] as const));
  // A removed envelope's content comes back only where a send of the batch reuses its id (to tell a resend from
  // an id taken): otherwise a message's ciphertext crossed the wire a third time, for nothing.
  const sent = new Set(writes.flatMap((w) => ('send' in w ? w.send.envelopes.map((e) => e.id) : [])));
  const deleted = await client.query<StoredIdentity & { bytes: string }>(prepared('queue-acknowledge',
    `DELETE FROM envelopes e USING unnest($1::text[], $2::text[], $3::int[], $4::boolean[]) AS a(id, u, d, resent)
     WHERE e.id = a.id AND e.recipient_user = a.u AND e.recipient_device = a.d
     RETURNING e.id, e.type, e.sender_user, e.sender_device, e.recipient_user, e.recipient_device, CASE WHEN a.resent THEN e.content ELSE '' END AS content, octet_length(e.content) * 3 / 4 AS bytes`,
    [binaryTextArray(listed.map((l) => l[0])), binaryTextArray(listed.map((l) => l[1])), binaryIntArray(listed.map((l) => l[2])), binaryBooleanArray(listed.map((l) => sent.has(l[0])))]));
  // Only a recipient's own envelopes: the id alone is not enough (another device's id removes nothing).
  const gone = new Map<string, StoredIdentity>();
  for (const r of deleted.rows) {
    gone.set(`${r.recipient_user}.${r.recipient_device} ${r.id}`, r);
    const total = totals.get(`${r.recipient_user}.${r.recipient_device}`);
    if (total) {
      total.envelopes -= 1;
      total.bytes -= Number(r.bytes);
    }
  }
  for (const { i, ack } of acks) {
    // Each once, however often it was listed: one delivery, one audit record.
    const removed = ack.ids.filter((id) => {
      const row = gone.get(`${key(ack.recipient)} ${id}`);
      if (row) removedBy.set(id, { write: i, row });
      return gone.delete(`${key(ack.recipient)} ${id}`);
    });
    results[i] = removed;
    (audit[i] ??= []).push(...removed.map(ack.auditOf));
  }
  return removedBy;
}

interface QueueState {
  /** Send recipients whose device may receive (not revoked, account active). */
  readonly receiving: ReadonlySet<string>;
  /** Each touched queue's total as locked, less what the batch acknowledged, plus what it has taken so far. */
  readonly totals: Map<string, Counts>;
  /** The envelopes the batch's acknowledgements removed, and by which write. */
  readonly removedBy: ReadonlyMap<string, { write: number; row: StoredIdentity }>;
}

/**
 * Every send of the batch, decided in order against the totals (a recipient device's envelopes of one request
 * are queued or refused together), then inserted in one statement. Returns the queues that grew.
 */
async function enqueue(client: pg.PoolClient, writes: readonly QueueWrite[], state: QueueState, results: (EnqueueOutcome[] | EnvelopeId[] | undefined)[], audit: AuditEvent[][]): Promise<Map<string, DeviceAddress>> {
  const sends = writes.flatMap((w, i) => ('send' in w ? [{ i, send: w.send, groups: byRecipientDevice(w.send.envelopes) }] : []));
  const grown = new Map<string, DeviceAddress>();
  if (sends.length === 0) return grown;
  const shares = await sharesOf(client, sends.flatMap(({ send, groups }) => groups.map((g) => ({ recipient: g.recipient, sender: senderOf(send, g.indices) }))), state.receiving);

  // What is queued already under the sends' ids, as the writes meet it in their order: what the database
  // holds, what an acknowledgement later in the batch removed (still queued for a send before it), and what an
  // earlier send of the batch claims. A resend is accepted as alreadyQueued and takes no room.
  const held = await heldIds(client, sends.flatMap(({ send }) => send.envelopes.map((e) => e.id)));
  const claimed = new Map<string, StoredIdentity>();
  const queuedBefore = (id: string, write: number): StoredIdentity | undefined => {
    const removed = state.removedBy.get(id);
    return held.get(id) ?? (removed && removed.write > write ? removed.row : undefined) ?? claimed.get(id);
  };

  /** Envelopes to insert, and those whose outcome depends on whether their id is queued already. */
  const inserting: { i: number; at: number; envelope: NewEnvelope }[] = [];
  const lookUp: { i: number; at: number; envelope: NewEnvelope; otherwise: EnqueueOutcome }[] = [];
  for (const { i, send, groups } of sends) {
    const outcomes: EnqueueOutcome[] = send.envelopes.map(() => 'queued');
    results[i] = outcomes;
    for (const { recipient, indices } of groups) {
      const k = key(recipient);
      const fresh: number[] = [];
      for (const at of indices) {
        const envelope = send.envelopes[at] as NewEnvelope;
        const before = queuedBefore(envelope.id, i);
        if (before) outcomes[at] = identical(before, envelope) ? 'alreadyQueued' : 'idTaken';
        else fresh.push(at);
      }
      if (fresh.length === 0) continue;
      const bytes = fresh.reduce((sum, at) => sum + ciphertextBytes((send.envelopes[at] as NewEnvelope).content), 0);
      const sender = senderOf(send, indices);
      const refusal = !state.receiving.has(k) ? 'deviceGone' : refusalOf(send.limits, fresh.length, bytes, state.totals.get(k), shares.get(shareKey(recipient, sender)));
      for (const at of fresh) {
        const envelope = send.envelopes[at] as NewEnvelope;
        if (refusal) outcomes[at] = refusal;
        else {
          inserting.push({ i, at, envelope });
          claimed.set(envelope.id, identityOf(envelope));
        }
      }
      if (refusal) continue;
      take(state.totals, k, fresh.length, bytes);
      if (sender !== recipient.userId) take(shares, shareKey(recipient, sender), fresh.length, bytes);
    }
  }

  if (inserting.length > 0) {
    const rows = inserting.map((x) => x.envelope);
    const inserted = await client.query<{ id: string }>(prepared('queue-insert',
      `INSERT INTO envelopes (id, recipient_user, recipient_device, sender_user, sender_device, type, content, accepted_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[], $7::text[], $8::bigint[])
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [binaryTextArray(rows.map((e) => e.id)), binaryTextArray(rows.map((e) => e.recipient.userId)), binaryIntArray(rows.map((e) => e.recipient.deviceId)), binaryTextArray(rows.map((e) => e.sender.userId)),
        binaryIntArray(rows.map((e) => e.sender.deviceId)), binaryTextArray(rows.map((e) => e.type)), binaryTextArray(rows.map((e) => e.content)), binaryBigintArray(rows.map((e) => e.acceptedAt))]));
    const fresh = new Set(inserted.rows.map((r) => r.id));
    for (const x of inserting) {
      // Not inserted: another instance queued the id since it was looked up (looked up again below).
      if (fresh.delete(x.envelope.id)) {
        (audit[x.i] ??= []).push((writes[x.i] as { send: EnvelopeBatch }).send.auditOf(x.envelope));
        grown.set(key(x.envelope.recipient), x.envelope.recipient);
      } else lookUp.push({ ...x, otherwise: 'idTaken' });
    }
  }
  if (lookUp.length > 0) {
    const byId = await heldIds(client, lookUp.map((x) => x.envelope.id));
    for (const x of lookUp) {
      const row = byId.get(x.envelope.id);
      (results[x.i] as EnqueueOutcome[])[x.at] = row ? (identical(row, x.envelope) ? 'alreadyQueued' : 'idTaken') : x.otherwise;
    }
  }
  return grown;
}

/** The envelopes queued under these ids, by id. */
async function heldIds(client: pg.PoolClient, ids: readonly string[]): Promise<Map<string, StoredIdentity>> {
  if (ids.length === 0) return new Map();
  const rows = await client.query<StoredIdentity>(prepared('queue-held',
    'SELECT id, type, sender_user, sender_device, recipient_user, recipient_device, content FROM envelopes WHERE id = ANY($1::text[])', [binaryTextArray([...new Set(ids)])]));
  return new Map(rows.rows.map((r) => [r.id, r]));
}

/** Each (recipient device, other account) share the sends need, read once (the recipient's own account is held to the whole queue only). */
async function sharesOf(client: pg.PoolClient, wanted: readonly { recipient: DeviceAddress; sender: string }[], receiving: ReadonlySet<string>): Promise<Map<string, Counts>> {
  const pairs = new Map<string, { recipient: DeviceAddress; sender: string }>();
  for (const w of wanted) if (w.sender !== w.recipient.userId && receiving.has(key(w.recipient))) pairs.set(shareKey(w.recipient, w.sender), w);
  const shares = new Map<string, Counts>([...pairs.keys()].map((k) => [k, { envelopes: 0, bytes: 0 }]));
  if (pairs.size === 0) return shares;
  const list = [...pairs.values()];
  const rows = await client.query<{ user_id: string; device_id: number; sender_user: string; envelopes: string; bytes: string }>(prepared('queue-shares',
    `SELECT user_id, device_id, sender_user, envelopes, bytes FROM queue_shares
     WHERE (user_id, device_id, sender_user) IN (SELECT * FROM unnest($1::text[], $2::int[], $3::text[]))`,
    [binaryTextArray(list.map((p) => p.recipient.userId)), binaryIntArray(list.map((p) => p.recipient.deviceId)), binaryTextArray(list.map((p) => p.sender))]));
  for (const r of rows.rows) shares.set(`${r.user_id}.${r.device_id} ${r.sender_user}`, { envelopes: Number(r.envelopes), bytes: Number(r.bytes) });
  return shares;
}

/** One request is one device's: its envelopes for one recipient are one account's. */
function senderOf(send: EnvelopeBatch, indices: readonly number[]): string {
  return (send.envelopes[indices[0] ?? 0] as NewEnvelope).sender.userId;
}

function refusalOf(limits: QueueLimits, count: number, bytes: number, total: Counts | undefined, share: Counts | undefined): EnqueueOutcome | undefined {
  const queued = total ?? { envelopes: 0, bytes: 0 };
  if (queued.envelopes + count > limits.maxEnvelopes || queued.bytes + bytes > limits.maxBytes) return 'queueFull';
  if (share && (share.envelopes + count > limits.maxEnvelopesPerSender || share.bytes + bytes > limits.maxBytesPerSender)) return 'senderShareFull';
  return undefined;
}

function take(counts: Map<string, Counts>, k: string, envelopes: number, bytes: number): void {
  const c = counts.get(k) ?? { envelopes: 0, bytes: 0 };
  counts.set(k, { envelopes: c.envelopes + envelopes, bytes: c.bytes + bytes });
}

function identityOf(e: NewEnvelope): StoredIdentity {
  return { id: e.id, type: e.type, sender_user: e.sender.userId, sender_device: e.sender.deviceId, recipient_user: e.recipient.userId, recipient_device: e.recipient.deviceId, content: e.content };
}

function identical(row: StoredIdentity, envelope: NewEnvelope): boolean {
  return row.content === envelope.content && row.type === envelope.type
    && row.sender_user === envelope.sender.userId && row.sender_device === envelope.sender.deviceId
    && row.recipient_user === envelope.recipient.userId && row.recipient_device === envelope.recipient.deviceId;
}
