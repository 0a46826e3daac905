/**
 * The hash-chained audit log of the PostgreSQL store, shared by every relay instance: one order, no fork,
 * no gap. Each append takes a transaction-scoped advisory lock before it reads the last record, so appends
 * from any instance follow one another as SQLite's single writer makes them; the lock ends with the
 * transaction, so a record is visible to the next appender only once it is committed.
 */
import type pg from 'pg';
import { prepared, type Queryable } from './PostgresDatabase';
import { binaryBigintArray, binaryBooleanArray, binaryTextArray } from './binaryArrays';
import { GENESIS_HASH, checkChain, type AuditEvent, type AuditRecord, type ChainCheck } from '../../audit/AuditRecord';
import { chainedRecords, storedDetails } from '../../audit/chainedRecords';
import type { AuditLogStart, AuditRecordFilter, AuditTreeState, StoredTile } from '../RelayStore';

/** Key of the advisory lock every audit append holds ("audit" in ASCII). */
const AUDIT_LOCK = 0x6175646974;
/** Records written by one INSERT (a batch of a big log's beginning is written in pieces). */
const INSERT_ROWS = 1000;
/** Records checked per query. */
const CHECK_PAGE = 10_000;

interface AuditRow { seq: string; at: string; type: string; actor: string; subject: string; details: string; flagged: boolean; prev_hash: string; hash: string }


export class PostgresAuditLog {
  /** Appends records inside the caller's transaction (`client`: a connection in BEGIN). */
  async append(client: pg.PoolClient, events: readonly AuditEvent[], at: number): Promise<AuditRecord[]> {
    if (events.length === 0) return [];
    // The lock, then the last record as committed once it is held (migration 5 says why one function).
    const last = (await client.query<{ seq: string; hash: string }>(prepared('audit-head', 'SELECT seq, hash FROM audit_head_locked($1)', [AUDIT_LOCK]))).rows[0];
    const chained = chainedRecords(events, last ? { seq: Number(last.seq), hash: last.hash } : undefined, at);
    for (let i = 0; i < chained.length; i += INSERT_ROWS) {
      const rows = chained.slice(i, i + INSERT_ROWS);
      const column = <T>(of: (c: (typeof rows)[number]) => T) => rows.map(of);
      // One statement text whatever the number of records (prepared once per connection).
      await client.query(prepared('audit-append',
        `INSERT INTO audit_log (seq, at, type, actor, subject, details, flagged, prev_hash, hash, details_line)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::text[], $9::text[], $10::boolean[])`,
        [binaryBigintArray(column((c) => c.record.seq)), binaryBigintArray(column((c) => c.record.at)), binaryTextArray(column((c) => c.record.type)), binaryTextArray(column((c) => c.record.actor)), binaryTextArray(column((c) => c.record.subject)),
          binaryTextArray(column((c) => c.details)), binaryBooleanArray(column((c) => c.record.flagged)), binaryTextArray(column((c) => c.record.prevHash)), binaryTextArray(column((c) => c.record.hash)), binaryBooleanArray(column((c) => c.detailsLine))]));
    }
    return chained.map((c) => c.record);
  }

  async records(db: Queryable, from: number, to: number): Promise<AuditRecord[]> {
    return (await db.query<AuditRow>('SELECT * FROM audit_log WHERE at >= $1 AND at < $2 ORDER BY seq', [from, to])).rows.map(toAudit);
  }

  async recordsAfter(db: Queryable, afterSeq: number, limit: number, filter: AuditRecordFilter = {}): Promise<AuditRecord[]> {
    const { where, params } = pageQuery(afterSeq, filter);
    return (await db.query<AuditRow>(`SELECT * FROM audit_log WHERE ${where} ORDER BY seq LIMIT $${params.length + 1}`, [...params, limit])).rows.map(toAudit);
  }

  /**
   * The records of a page as their seqs alone: the caller reads each whole and makes its line (the SQLite
   * store puts lines together in SQL; here that waits until the export of a large log on PostgreSQL is measured).
   */
  async linesAfter(db: Queryable, afterSeq: number, limit: number, filter: AuditRecordFilter = {}): Promise<string[]> {
    const { where, params } = pageQuery(afterSeq, filter);
    return (await db.query<{ seq: string }>(`SELECT seq FROM audit_log WHERE ${where} ORDER BY seq LIMIT $${params.length + 1}`, [...params, limit])).rows.map((r) => r.seq);
  }

  /** Begins a new log inside the caller's transaction: its first record, its row, and an empty tree. */
  async beginLog(client: pg.PoolClient, origin: string, first: AuditEvent, at: number): Promise<AuditRecord> {
    const [record] = await this.append(client, [first], at);
    if (!record) throw new Error('no first record');
    await client.query('INSERT INTO audit_logs (first_seq, origin, at) VALUES ($1, $2, $3)', [record.seq, origin, record.at]);
    await client.query('DELETE FROM audit_tiles');
    await client.query(
      `INSERT INTO audit_tree (id, first_seq, size, head, broken_at, broken_reason) VALUES (1, $1, 0, $2, NULL, NULL)
       ON CONFLICT (id) DO UPDATE SET first_seq = excluded.first_seq, size = 0, head = excluded.head, broken_at = NULL, broken_reason = NULL`,
      [record.seq, record.prevHash],
    );
    return record;
  }

  async tree(db: Queryable): Promise<AuditTreeState> {
    const row = (await db.query<{ first_seq: string; size: string; head: string; broken_at: string | null; broken_reason: string | null }>('SELECT * FROM audit_tree WHERE id = 1')).rows[0];
    if (row) return { firstSeq: Number(row.first_seq), size: Number(row.size), head: row.head, brokenAt: row.broken_at === null ? null : Number(row.broken_at), brokenReason: row.broken_reason };
    // No tree yet: it starts empty, at the log's first record.
    const { firstSeq } = await this.logStart(db);
    const before = (await db.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = $1', [firstSeq - 1])).rows[0];
    return { firstSeq, size: 0, head: before?.hash ?? GENESIS_HASH, brokenAt: null, brokenReason: null };
  }

  async tiles(db: Queryable, level: number, from: number, to: number): Promise<StoredTile[]> {
    const rows = await db.query<{ level: number; idx: string; hashes: Buffer }>('SELECT level, idx, hashes FROM audit_tiles WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx', [level, from, to]);
    return rows.rows.map((r) => ({ level: r.level, index: Number(r.idx), hashes: new Uint8Array(r.hashes) }));
  }

  /** Inside the caller's transaction: the tree's row is locked, so of two instances growing it one wins. */
  async extendTree(client: pg.PoolClient, from: AuditTreeState, to: AuditTreeState, tiles: readonly StoredTile[]): Promise<boolean> {
    const locked = (await client.query<{ first_seq: string; size: string }>('SELECT first_seq, size FROM audit_tree WHERE id = 1 FOR UPDATE')).rows[0];
    const now = locked ? { firstSeq: Number(locked.first_seq), size: Number(locked.size) } : await this.tree(client);
    if (now.firstSeq !== from.firstSeq || now.size !== from.size) return false;
    for (const t of tiles) {
      await client.query('INSERT INTO audit_tiles (level, idx, hashes) VALUES ($1, $2, $3) ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes', [t.level, t.index, Buffer.from(t.hashes)]);
    }
    // Two instances creating the row at once: the second insert conflicts, and its transaction is not the tree's.
    const written = await client.query(
      `INSERT INTO audit_tree (id, first_seq, size, head, broken_at, broken_reason) VALUES (1, $1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET first_seq = excluded.first_seq, size = excluded.size, head = excluded.head, broken_at = excluded.broken_at, broken_reason = excluded.broken_reason
       WHERE audit_tree.first_seq = $6 AND audit_tree.size = $7`,
      [to.firstSeq, to.size, to.head, to.brokenAt, to.brokenReason, from.firstSeq, from.size],
    );
    if (written.rowCount !== 1) throw new TreeMovedError();
    return true;
  }

  async resetTree(client: pg.PoolClient): Promise<void> {
    await client.query('DELETE FROM audit_tiles');
    await client.query('DELETE FROM audit_tree');
  }

  async timeSpan(db: Queryable): Promise<{ earliest: number; latest: number } | null> {
    const row = (await db.query<{ earliest: string | null; latest: string | null }>('SELECT (SELECT min(at) FROM audit_log) AS earliest, (SELECT max(at) FROM audit_log) AS latest')).rows[0];
    return row && row.earliest !== null && row.latest !== null ? { earliest: Number(row.earliest), latest: Number(row.latest) } : null;
  }

  async logStart(db: Queryable): Promise<AuditLogStart> {
    const row = (await db.query<{ first_seq: string; origin: string }>('SELECT first_seq, origin FROM audit_logs ORDER BY first_seq DESC LIMIT 1')).rows[0];
    return row ? { firstSeq: Number(row.first_seq), origin: row.origin } : { firstSeq: 1, origin: null };
  }

  /** The whole chain from the genesis, checked a page at a time (never the whole log in memory). */
  async checkChain(db: Queryable): Promise<ChainCheck> {
    let head = GENESIS_HASH;
    let checked = 0;
    for (let after = 0; ;) {
      const page = (await db.query<AuditRow>('SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2', [after, CHECK_PAGE])).rows.map(toAudit);
      if (page.length === 0) return { ok: true, records: checked, head };
      const verdict = checkChain(page, head, after + 1);
      if (!verdict.ok) return { ...verdict, records: checked + verdict.records };
      checked += verdict.records;
      head = verdict.head ?? head;
      after = page[page.length - 1]?.seq ?? after;
    }
  }
}

/** Another instance grew the tree first (its row appeared meanwhile): this growth rolls back. */
export class TreeMovedError extends Error {
  constructor() {
    super('the audit tree was grown by another relay instance');
  }
}

/** The WHERE clause ($1... in order) and its parameters for records after `afterSeq` that pass `filter`. */
function pageQuery(afterSeq: number, filter: AuditRecordFilter): { where: string; params: (number | string | string[])[] } {
  const params: (number | string | string[])[] = [afterSeq];
  const where = ['seq > $1'];
  const add = (clause: (n: number) => string, ...values: (number | string | string[])[]) => {
    where.push(clause(params.length + 1));
    params.push(...values);
  };
  if (filter.from !== undefined) add((n) => `at >= $${n}`, filter.from);
  if (filter.to !== undefined) add((n) => `at < $${n}`, filter.to);
  if (filter.untilSeq !== undefined) add((n) => `seq <= $${n}`, filter.untilSeq);
  if (filter.outside) add((n) => `(at < $${n} OR at >= $${n + 1})`, filter.outside.from, filter.outside.to);
  if (filter.types && filter.types.length > 0) add((n) => `type = ANY($${n})`, [...filter.types]);
  return { where: where.join(' AND '), params };
}

function toAudit(r: AuditRow): AuditRecord {
  return { seq: Number(r.seq), at: Number(r.at), type: r.type as AuditRecord['type'], actor: r.actor, subject: r.subject, details: storedDetails(r.seq, r.details), flagged: r.flagged, prevHash: r.prev_hash, hash: r.hash };
}
