import { GENESIS_HASH, checkChain, type AuditEvent, type AuditRecord, type ChainCheck } from '../../audit/AuditRecord';
import { chainedRecords, storedDetails } from '../../audit/chainedRecords';
import type { Clock } from '../../Clock';
import type { AuditLogStart, AuditRecordFilter, AuditTreeState, StoredTile } from '../RelayStore';
import type { SqliteDatabase } from './SqliteDatabase';

interface AuditRow { seq: number; at: number; type: string; actor: string; subject: string; details: string; flagged: number; prev_hash: string; hash: string }

/** The hash-chained audit log of `SqliteRelayStore`, in the `audit_log` table. */
export class SqliteAuditLog {
  readonly #sql: SqliteDatabase;
  readonly #clock: Clock;

  constructor(sql: SqliteDatabase, clock: Clock) {
    this.#sql = sql;
    this.#clock = clock;
  }

  /** Appends audit records; must run inside an IMMEDIATE transaction (which serialises writers). */
  append(events: readonly AuditEvent[]): AuditRecord[] {
    if (events.length === 0) return [];
    const last = this.#sql.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    return chainedRecords(events, last, this.#clock.now()).map(({ record, details, detailsLine }) => {
      this.#sql.run(
        'INSERT INTO audit_log (seq, at, type, actor, subject, details, flagged, prev_hash, hash, details_line) VALUES ($seq, $at, $type, $actor, $subject, $details, $flagged, $prev, $hash, $detailsLine)',
        { seq: record.seq, at: record.at, type: record.type, actor: record.actor, subject: record.subject, details, flagged: record.flagged ? 1 : 0, prev: record.prevHash, hash: record.hash, detailsLine: detailsLine ? 1 : 0 },
      );
      return record;
    });
  }

  records(from: number, to: number): AuditRecord[] {
    return this.#sql.all<AuditRow>('SELECT * FROM audit_log WHERE at >= $from AND at < $to ORDER BY seq', { from, to }).map(toAudit);
  }

  recordsAfter(afterSeq: number, limit: number, filter: AuditRecordFilter = {}): AuditRecord[] {
    const { where, params } = pageQuery(afterSeq, limit, filter);
    return this.#sql.all<AuditRow>(`SELECT * FROM audit_log WHERE ${where} ORDER BY seq LIMIT $limit`, params).map(toAudit);
  }

  /**
   * The same page as recordsAfter, each record as its events.jsonl line put together by the database
   * (relayRecordLine's exact bytes: json_quote escapes as JSON.stringify does), prefixed with its seq and a
   * space; a record whose details are not stored as the line has them comes as its seq alone, for the caller
   * to read whole. The export checks every line against its leaf anyway.
   */
  linesAfter(afterSeq: number, limit: number, filter: AuditRecordFilter = {}): string[] {
    const { where, params } = pageQuery(afterSeq, limit, filter);
    return this.#sql.pluck<string>(`SELECT ${LINE_SQL} FROM audit_log WHERE ${where} ORDER BY seq LIMIT $limit`, params);
  }

  timeSpan(): { earliest: number; latest: number } | null {
    const row = this.#sql.get<{ earliest: number | null; latest: number | null }>('SELECT (SELECT min(at) FROM audit_log) AS earliest, (SELECT max(at) FROM audit_log) AS latest');
    return row && row.earliest !== null && row.latest !== null ? { earliest: row.earliest, latest: row.latest } : null;
  }

  logStart(): AuditLogStart {
    const row = this.#sql.get<{ first_seq: number; origin: string }>('SELECT first_seq, origin FROM audit_logs ORDER BY first_seq DESC LIMIT 1');
    return row ? { firstSeq: row.first_seq, origin: row.origin } : { firstSeq: 1, origin: null };
  }

  /** Must run inside an IMMEDIATE transaction. */
  beginLog(origin: string, first: AuditEvent): AuditRecord {
    const [record] = this.append([first]);
    if (!record) throw new Error('no first record');
    this.#sql.run('INSERT INTO audit_logs (first_seq, origin, at) VALUES ($seq, $origin, $at)', { seq: record.seq, origin, at: record.at });
    this.#sql.run('DELETE FROM audit_tiles');
    this.#sql.run('INSERT OR REPLACE INTO audit_tree (id, first_seq, size, head, broken_at, broken_reason) VALUES (1, $seq, 0, $head, NULL, NULL)', { seq: record.seq, head: record.prevHash });
    return record;
  }

  tree(): AuditTreeState {
    const row = this.#sql.get<{ first_seq: number; size: number; head: string; broken_at: number | null; broken_reason: string | null }>('SELECT * FROM audit_tree WHERE id = 1');
    if (row) return { firstSeq: row.first_seq, size: row.size, head: row.head, brokenAt: row.broken_at, brokenReason: row.broken_reason };
    // No tree yet (a log from before the tree was kept): it starts empty, at the log's first record.
    const { firstSeq } = this.logStart();
    const before = this.#sql.get<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = $seq', { seq: firstSeq - 1 });
    return { firstSeq, size: 0, head: before?.hash ?? GENESIS_HASH, brokenAt: null, brokenReason: null };
  }

  tiles(level: number, from: number, to: number): StoredTile[] {
    return this.#sql.all<{ level: number; idx: number; hashes: Uint8Array }>('SELECT level, idx, hashes FROM audit_tiles WHERE level = $level AND idx >= $from AND idx < $to ORDER BY idx', { level, from, to })
      .map((r) => ({ level: r.level, index: r.idx, hashes: r.hashes }));
  }

  /** Must run inside an IMMEDIATE transaction. */
  extendTree(from: AuditTreeState, to: AuditTreeState, tiles: readonly StoredTile[]): boolean {
    const now = this.tree();
    if (now.firstSeq !== from.firstSeq || now.size !== from.size) return false;
    for (const t of tiles) this.#sql.run('INSERT OR REPLACE INTO audit_tiles (level, idx, hashes) VALUES ($level, $idx, $hashes)', { level: t.level, idx: t.index, hashes: new Uint8Array(t.hashes) });
    this.#sql.run('INSERT OR REPLACE INTO audit_tree (id, first_seq, size, head, broken_at, broken_reason) VALUES (1, $first, $size, $head, $brokenAt, $brokenReason)', { first: to.firstSeq, size: to.size, head: to.head, brokenAt: to.brokenAt, brokenReason: to.brokenReason });
    return true;
  }

  /** Must run inside an IMMEDIATE transaction. */
  resetTree(): void {
    this.#sql.run('DELETE FROM audit_tiles');
    this.#sql.run('DELETE FROM audit_tree');
  }

  checkChain(): ChainCheck {
    return checkChain(this.#sql.all<AuditRow>('SELECT * FROM audit_log ORDER BY seq').map(toAudit), GENESIS_HASH, 1);
  }
}

/** The records the partial index audit_log_landmarks holds, and its WHERE clause word for word. */
const LANDMARK_TYPES: readonly string[] = ['audit.key_rotated', 'audit.exported', 'audit.log_restored'];
const LANDMARK_WHERE = `type IN (${LANDMARK_TYPES.map((t) => `'${t}'`).join(', ')})`;

/** The WHERE clause and parameters of a page of records after `afterSeq` that pass `filter`. */
function pageQuery(afterSeq: number, limit: number, filter: AuditRecordFilter): { where: string; params: Record<string, number | string> } {
  const types = filter.types ?? [];
  const where = [
    'seq > $after',
    ...(filter.from !== undefined ? ['at >= $from'] : []),
    ...(filter.to !== undefined ? ['at < $to'] : []),
    ...(filter.untilSeq !== undefined ? ['seq <= $until'] : []),
    ...(filter.outside ? ['(at < $outsideFrom OR at >= $outsideTo)'] : []),
    ...(types.length > 0 ? [`type IN (${types.map((_, i) => `$type${i}`).join(', ')})`] : []),
    // Landmarks only: the partial index of them (migration 0022) serves the query, not a read of the whole log.
    ...(types.length > 0 && types.every((t) => LANDMARK_TYPES.includes(t)) ? [LANDMARK_WHERE] : []),
  ];
  const params: Record<string, number | string> = { after: afterSeq, limit };
  if (filter.from !== undefined) params.from = filter.from;
  if (filter.to !== undefined) params.to = filter.to;
  if (filter.untilSeq !== undefined) params.until = filter.untilSeq;
  if (filter.outside) [params.outsideFrom, params.outsideTo] = [filter.outside.from, filter.outside.to];
  types.forEach((t, i) => (params[`type${i}`] = t));
  return { where: where.join(' AND '), params };
}

/** relayRecordLine in SQL (recordChain.ts): seq, a space and the line, or the seq alone where details_line is 0. */
const LINE_SQL = `CASE details_line WHEN 1 THEN seq || ' {"actor":' || json_quote(actor) || ',"at":' || at || ',"details":' || details || ',"flagged":' || (CASE flagged WHEN 1 THEN 'true' ELSE 'false' END)
  || ',"hash":' || json_quote(hash) || ',"prevHash":' || json_quote(prev_hash) || ',"seq":' || seq || ',"subject":' || json_quote(subject) || ',"type":' || json_quote(type) || '}' ELSE CAST(seq AS TEXT) END`;

function toAudit(r: AuditRow): AuditRecord {
  return {
    seq: r.seq, at: r.at, type: r.type as AuditRecord['type'], actor: r.actor, subject: r.subject,
    details: storedDetails(r.seq, r.details), flagged: r.flagged === 1, prevHash: r.prev_hash, hash: r.hash,
  };
}

