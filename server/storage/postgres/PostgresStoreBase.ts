/**
 * What every part of the PostgreSQL store shares, and the parts that need nothing else: the transactions and
 * the audit append every mutation ends with, the audit log's reads, tree and signed checkpoints, and the
 * control events every relay instance follows. PostgresRelayStore builds the rest on it.
 */
import type pg from 'pg';
import { DeviceIdSchema, type DeviceId, type UserId } from '../../../shared/ids';
import type { AuditEvent, AuditRecord, ChainCheck } from '../../audit/AuditRecord';
import type { Clock } from '../../Clock';
import { ConfigurationError } from '../../ConfigurationError';
import type { AuditLogStart, AuditRecordFilter, AuditTreeState, ControlEvent, SignedCheckpoint, StoredTile } from '../RelayStore';
import { PostgresAuditLog, TreeMovedError } from './PostgresAuditLog';
import type { PostgresDatabase } from './PostgresDatabase';
import { CONTROL_CHANNEL } from './PostgresNotifications';

/** PostgreSQL's unique_violation. */
export const UNIQUE_VIOLATION = '23505';
/**
 * Key of the advisory lock every control event is recorded under ("control" in ASCII). A transaction that
 * records one takes it before the audit lock (PostgresAuditLog), never after: the one order that keeps sign-ins,
 * revocations and deprovisioning from deadlocking.
 */
const CONTROL_LOCK = 0x636f6e74726f6c;

export abstract class PostgresStoreBase {
  protected readonly audit = new PostgresAuditLog();

  constructor(protected readonly db: PostgresDatabase, protected readonly clock: Clock) {}

  protected tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  protected async append(client: pg.PoolClient, audit: readonly AuditEvent[]): Promise<void> {
    await this.audit.append(client, audit, this.clock.now());
  }

  async pruneControlEvents(before: number): Promise<void> {
    // An identity column: seqs go on rising whatever is deleted.
    await this.db.query('DELETE FROM control_events WHERE at < $1', [before]);
  }

  async controlEvents(afterSeq: number): Promise<ControlEvent[]> {
    const rows = await this.db.query<{ seq: string; kind: string; user_id: string; device_id: number | null }>('SELECT * FROM control_events WHERE seq > $1 ORDER BY seq', [afterSeq]);
    return rows.rows.map((r) => ({ seq: Number(r.seq), kind: r.kind as ControlEvent['kind'], userId: r.user_id as UserId, deviceId: r.device_id === null ? null : DeviceIdSchema.parse(r.device_id) }));
  }

  /** Records a change every instance must act on, and wakes them (the NOTIFY is sent at commit). */
  protected async controlEvent(client: pg.PoolClient, kind: ControlEvent['kind'], userId: UserId, deviceId: DeviceId | number | null, at: number): Promise<void> {
    // Instances follow these by seq: one taken before another commits could be skipped. Held to the commit,
    // the lock makes the events commit in the order of their seqs.
    await client.query('SELECT pg_advisory_xact_lock($1)', [CONTROL_LOCK]);
    await client.query('INSERT INTO control_events (kind, user_id, device_id, at) VALUES ($1, $2, $3, $4)', [kind, userId, deviceId, at]);
    await client.query('SELECT pg_notify($1, $2)', [CONTROL_CHANNEL, kind]);
  }

  // --- Audit -----------------------------------------------------------------------------------------

  async appendAudit(audit: readonly AuditEvent[]): Promise<void> {
    if (audit.length > 0) await this.tx((client) => this.append(client, audit));
  }

  auditRecords(from: number, to: number): Promise<AuditRecord[]> {
    return this.audit.records(this.db, from, to);
  }

  auditRecordsAfter(afterSeq: number, limit: number, filter?: AuditRecordFilter): Promise<AuditRecord[]> {
    return this.audit.recordsAfter(this.db, afterSeq, limit, filter);
  }

  auditLinesAfter(afterSeq: number, limit: number, filter?: Pick<AuditRecordFilter, 'from' | 'to' | 'untilSeq'>): Promise<string[]> {
    return this.audit.linesAfter(this.db, afterSeq, limit, filter);
  }

  checkAuditChain(): Promise<ChainCheck> {
    return this.audit.checkChain(this.db);
  }

  auditTimeSpan(): Promise<{ earliest: number; latest: number } | null> {
    return this.audit.timeSpan(this.db);
  }

  auditLogStart(): Promise<AuditLogStart> {
    return this.audit.logStart(this.db);
  }

  beginAuditLog(origin: string, first: AuditEvent): Promise<AuditRecord> {
    return this.tx((client) => this.audit.beginLog(client, origin, first, this.clock.now()));
  }

  auditTree(): Promise<AuditTreeState> {
    return this.audit.tree(this.db);
  }

  auditTiles(level: number, from: number, to: number): Promise<StoredTile[]> {
    return this.audit.tiles(this.db, level, from, to);
  }

  async extendAuditTree(from: AuditTreeState, to: AuditTreeState, tiles: readonly StoredTile[]): Promise<boolean> {
    try {
      return await this.tx((client) => this.audit.extendTree(client, from, to, tiles));
    } catch (error) {
      if (error instanceof TreeMovedError || (error as { code?: string }).code === UNIQUE_VIOLATION) return false;
      throw error;
    }
  }

  async rememberCheckpoint(entry: SignedCheckpoint): Promise<void> {
    await this.db.query('INSERT INTO audit_checkpoints (origin, size, root, note, at) VALUES ($1, $2, $3, $4, $5)', [entry.origin, entry.size, entry.root, entry.note, entry.at]);
  }

  async signedCheckpoints(origin: string): Promise<SignedCheckpoint[]> {
    const rows = await this.db.query<{ origin: string; size: string; root: string; note: string; at: string }>('SELECT origin, size, root, note, at FROM audit_checkpoints WHERE origin = $1 ORDER BY id', [origin]);
    return rows.rows.map((r) => ({ origin: r.origin, size: Number(r.size), root: r.root, note: r.note, at: Number(r.at) }));
  }

  async claimSiemCursor(owner: string, seed: { readonly seq: number; readonly hash?: string }): Promise<{ seq: number; hash?: string }> {
    const row = (await this.db.query<{ seq: string; hash: string | null }>(
      'INSERT INTO siem_cursor (id, seq, hash, owner) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET owner = excluded.owner RETURNING seq, hash',
      [seed.seq, seed.hash ?? null, owner],
    )).rows[0];
    return row ? { seq: Number(row.seq), ...(row.hash ? { hash: row.hash } : {}) } : seed;
  }

  async writeSiemCursor(cursor: { readonly seq: number; readonly hash?: string }, owner: string): Promise<boolean> {
    return ((await this.db.query('UPDATE siem_cursor SET seq = $1, hash = $2 WHERE id = 1 AND owner = $3', [cursor.seq, cursor.hash ?? null, owner])).rowCount ?? 0) === 1;
  }

  async resetAuditTree(): Promise<void> {
    await this.tx((client) => this.audit.resetTree(client));
  }

  // --- Operations that need nothing else ------------------------------------------------------------

  async freeBytes(): Promise<number | undefined> {
    // The database's disk is PostgreSQL's to watch (and its operators'): the relay cannot see it.
    return undefined;
  }

  async queuedTotal(): Promise<number> {
    return Number((await this.db.query<{ n: string | null }>(`SELECT sum(envelopes) AS n FROM queue_shares WHERE sender_user = ''`)).rows[0]?.n ?? 0);
  }

  async backup(): Promise<void> {
    throw new ConfigurationError('a relay on PostgreSQL is backed up with pg_dump (or the site\'s own PostgreSQL backups), not rounds-server backup: see docs/deployment.md, "Two or more relays"');
  }
}
