/**
 * The hash-chained audit log of the PostgreSQL store, shared by every relay instance: one order, no fork,
 * no gap. Each append takes a transaction-scoped advisory lock before it reads the last record, so appends
 * from any instance follow one another as SQLite's single writer makes them; the lock ends with the
 * transaction, so a record is visible to the next appender only once it is committed.
 */
import type pg from 'pg';
import { GENESIS_HASH, checkChain, type AuditEvent, type AuditRecord, type ChainCheck } from '../../audit/AuditRecord';
import { chainedRecords, storedDetails } from '../../audit/chainedRecords';
import type { AuditLogStart, AuditRecordFilter } from '../RelayStore';

/** Key of the advisory lock every audit append holds ("audit" in ASCII). */
const AUDIT_LOCK = 0x6175646974;
/** Records written by one INSERT (PostgreSQL takes at most 65,535 parameters; 10 a record). */
const INSERT_ROWS = 1000;
/** Records checked per query. */
const CHECK_PAGE = 10_000;

interface AuditRow { seq: string; at: string; type: string; actor: string; subject: string; details: string; flagged: boolean; prev_hash: string; hash: string }

/** Anything that runs a query: the pool, or a transaction's client. */
type Queryable = Pick<pg.Pool, 'query'>;

export class PostgresAuditLog {
  /** Appends records inside the caller's transaction (`client`: a connection in BEGIN). */
  async append(client: pg.PoolClient, events: readonly AuditEvent[], at: number): Promise<AuditRecord[]> {
    if (events.length === 0) return [];
    await client.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
    const last = (await client.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1')).rows[0];
    const chained = chainedRecords(events, last ? { seq: Number(last.seq), hash: last.hash } : undefined, at);
    for (let i = 0; i < chained.length; i += INSERT_ROWS) {
      const rows = chained.slice(i, i + INSERT_ROWS);
      const values = rows.map((_, r) => `(${Array.from({ length: 10 }, (_c, c) => `$${r * 10 + c + 1}`).join(', ')})`).join(', ');
      await client.query(
        `INSERT INTO audit_log (seq, at, type, actor, subject, details, flagged, prev_hash, hash, details_line) VALUES ${values}`,
        rows.flatMap(({ record, details, detailsLine }) => [record.seq, record.at, record.type, record.actor, record.subject, details, record.flagged, record.prevHash, record.hash, detailsLine]),
      );
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
