import { statfsSync } from 'node:fs';
import type { AuditEvent, AuditRecord, ChainCheck } from '../../audit/AuditRecord';
import type { AuditLogStart, AuditRecordFilter, AuditTreeState, ExclusiveJobOutcome, JobLease, StoredTile } from '../RelayStore';
import { withFileJobLock } from '../exclusiveJob';
import type { SqliteAuditLog } from './SqliteAuditLog';
import type { SqliteDatabase } from './SqliteDatabase';

/**
 * The embedded store's audit log, exclusive jobs and operations (free disk, readiness, backup): what needs only
 * the database, its audit log and the data directory. SqliteRelayStore builds the rest on it (as the
 * PostgreSQL store on PostgresStoreBase).
 */
export abstract class SqliteStoreBase {
  protected constructor(
    protected readonly sql: SqliteDatabase,
    protected readonly audit: SqliteAuditLog,
    protected readonly dataDir: string,
  ) {}

  // --- Audit -----------------------------------------------------------------------------------------

  async appendAudit(audit: readonly AuditEvent[]): Promise<void> {
    this.sql.immediate(() => this.audit.append(audit));
  }

  async freeBytes(): Promise<number | undefined> {
    // One system call (no thread pool): cheap enough to ask for every send.
    const stats = statfsSync(this.dataDir, { bigint: true });
    return Number(stats.bavail * stats.bsize);
  }

  async notReady(): Promise<string | undefined> {
    // The file is open and migrated for as long as the store exists (it refuses to open otherwise).
    return undefined;
  }

  async queuedTotal(): Promise<number> {
    return this.sql.get<{ n: number | null }>(`SELECT sum(envelopes) AS n FROM queue_shares WHERE sender_user = ''`)?.n ?? 0;
  }

  async backup(path: string): Promise<void> {
    // VACUUM INTO reads one snapshot (WAL included) and writes a compact copy; writers are not blocked.
    this.sql.run(`VACUUM INTO '${path.replace(/'/g, "''")}'`);
  }

  async auditRecords(from: number, to: number): Promise<AuditRecord[]> {
    return this.audit.records(from, to);
  }

  async auditRecordsAfter(afterSeq: number, limit: number, filter?: AuditRecordFilter): Promise<AuditRecord[]> {
    return this.audit.recordsAfter(afterSeq, limit, filter);
  }

  async auditLinesAfter(afterSeq: number, limit: number, filter?: Pick<AuditRecordFilter, 'from' | 'to' | 'untilSeq'>): Promise<string[]> {
    return this.audit.linesAfter(afterSeq, limit, filter);
  }

  async auditTimeSpan(): Promise<{ earliest: number; latest: number } | null> {
    return this.audit.timeSpan();
  }

  async auditLogStart(): Promise<AuditLogStart> {
    return this.audit.logStart();
  }

  async beginAuditLog(origin: string, first: AuditEvent): Promise<AuditRecord> {
    return this.sql.immediate(() => this.audit.beginLog(origin, first));
  }

  async auditTree(): Promise<AuditTreeState> {
    return this.audit.tree();
  }

  async auditTiles(level: number, from: number, to: number): Promise<StoredTile[]> {
    return this.audit.tiles(level, from, to);
  }

  async extendAuditTree(from: AuditTreeState, to: AuditTreeState, tiles: readonly StoredTile[]): Promise<boolean> {
    return this.sql.immediate(() => this.audit.extendTree(from, to, tiles));
  }

  async resetAuditTree(): Promise<void> {
    this.sql.immediate(() => this.audit.resetTree());
  }

  async checkAuditChain(): Promise<ChainCheck> {
    return this.audit.checkChain();
  }

  withExclusiveJob<T>(name: string, job: (lease: JobLease) => Promise<T>): Promise<ExclusiveJobOutcome<T>> {
    return withFileJobLock(this.dataDir, name, job);
  }
}
