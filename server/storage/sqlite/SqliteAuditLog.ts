import { GENESIS_HASH, checkChain, recordHash, type AuditEvent, type AuditRecord, type ChainCheck } from '../../audit/AuditRecord';
import type { Clock } from '../../Clock';
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
  append(events: readonly AuditEvent[]): void {
    if (events.length === 0) return;
    const last = this.#sql.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    let seq = last?.seq ?? 0;
    let prevHash = last?.hash ?? GENESIS_HASH;
    const at = this.#clock.now();
    for (const event of events) {
      seq++;
      const record = { seq, at, type: event.type, actor: event.actor, subject: event.subject, details: event.details, flagged: event.flagged ?? false, prevHash };
      const hash = recordHash(record);
      this.#sql.run(
        'INSERT INTO audit_log (seq, at, type, actor, subject, details, flagged, prev_hash, hash) VALUES ($seq, $at, $type, $actor, $subject, $details, $flagged, $prev, $hash)',
        { seq, at, type: event.type, actor: event.actor, subject: event.subject, details: JSON.stringify(event.details), flagged: record.flagged ? 1 : 0, prev: prevHash, hash },
      );
      prevHash = hash;
    }
  }

  records(from: number, to: number): AuditRecord[] {
    return this.#sql.all<AuditRow>('SELECT * FROM audit_log WHERE at >= $from AND at < $to ORDER BY seq', { from, to }).map(toAudit);
  }

  recordsAfter(afterSeq: number, limit: number): AuditRecord[] {
    return this.#sql.all<AuditRow>('SELECT * FROM audit_log WHERE seq > $after ORDER BY seq LIMIT $limit', { after: afterSeq, limit }).map(toAudit);
  }

  checkChain(): ChainCheck {
    return checkChain(this.#sql.all<AuditRow>('SELECT * FROM audit_log ORDER BY seq').map(toAudit), GENESIS_HASH, 1);
  }
}

function toAudit(r: AuditRow): AuditRecord {
  return {
    seq: r.seq, at: r.at, type: r.type as AuditRecord['type'], actor: r.actor, subject: r.subject,
    details: JSON.parse(r.details) as AuditRecord['details'], flagged: r.flagged === 1, prevHash: r.prev_hash, hash: r.hash,
  };
}
