/**
 * What sign-ins keep on PostgreSQL, shared by every relay instance: enrollment codes and enrollments under way,
 * failed sign-ins (a window per scope, a streak, the lock they lead to), the TOTP steps used, and emergency
 * grants. Each write is its own transaction with its audit records (`append`, the store's: the audit chain).
 */
import type pg from 'pg';
import type { UserId } from '../../../shared/ids';
import type { AuditEvent } from '../../audit/AuditRecord';
import type { Clock } from '../../Clock';
import type { AccountLock, EmergencyGrant, PendingEnrollment } from '../RelayStore';
import type { PostgresDatabase } from './PostgresDatabase';
import { nullableNumber } from './PostgresDevices';

/** Failed sign-ins are counted over a day at most. */
const FAILURE_WINDOW_MS = 24 * 3600_000;

export class PostgresSignIns {
  constructor(
    private readonly db: PostgresDatabase,
    private readonly clock: Clock,
    private readonly append: (client: pg.PoolClient, events: readonly AuditEvent[]) => Promise<void>,
  ) {}

  async enrollmentCodeOwner(codeHash: string, now: number): Promise<UserId | undefined> {
    const row = (await this.db.query<{ user_id: string }>('SELECT user_id FROM enrollment_codes WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2', [codeHash, now])).rows[0];
    return row?.user_id as UserId | undefined;
  }

  async createPendingEnrollment(e: PendingEnrollment): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('DELETE FROM pending_enrollments WHERE user_id = $1 OR expires_at < $2', [e.userId, this.clock.now()]);
      await client.query('INSERT INTO pending_enrollments (id, user_id, code_hash, totp_secret, expires_at) VALUES ($1, $2, $3, $4, $5)', [e.id, e.userId, e.codeHash, e.totpSecret, e.expiresAt]);
    });
  }

  async pendingEnrollment(id: string): Promise<PendingEnrollment | undefined> {
    const row = (await this.db.query<{ id: string; user_id: string; code_hash: string; totp_secret: string; expires_at: string }>('SELECT * FROM pending_enrollments WHERE id = $1', [id])).rows[0];
    return row && { id: row.id, userId: row.user_id as UserId, codeHash: row.code_hash, totpSecret: row.totp_secret, expiresAt: Number(row.expires_at) };
  }

  async recordLoginFailure(scopes: readonly string[], at: number, audit: readonly AuditEvent[], streak?: string, lock?: AccountLock): Promise<void> {
    await this.db.transaction(async (client) => {
      if (scopes.length > 0) await client.query('INSERT INTO login_failures (scope, at) SELECT s, $2 FROM unnest($1::text[]) AS s', [[...scopes], at]);
      await client.query('DELETE FROM login_failures WHERE at < $1', [at - FAILURE_WINDOW_MS]);
      if (streak !== undefined) {
        await client.query(
          `INSERT INTO login_streaks (scope, failures, first_at, last_at) VALUES ($1, 1, $2, $2)
           ON CONFLICT (scope) DO UPDATE SET failures = login_streaks.failures + 1, last_at = excluded.last_at`,
          [streak, at],
        );
      }
      // Never shortened: of two instances locking one account at once, the longer lock stands.
      if (lock) await client.query('UPDATE users SET locked_until = GREATEST(COALESCE(locked_until, 0), $2) WHERE id = $1', [lock.userId, lock.lockedUntil]);
      await this.append(client, audit);
    });
  }

  async loginFailures(scope: string, since: number): Promise<number[]> {
    return (await this.db.query<{ at: string }>('SELECT at FROM login_failures WHERE scope = $1 AND at >= $2 ORDER BY at', [scope, since])).rows.map((r) => Number(r.at));
  }

  async loginStreak(scope: string): Promise<number> {
    return (await this.db.query<{ failures: number }>('SELECT failures FROM login_streaks WHERE scope = $1', [scope])).rows[0]?.failures ?? 0;
  }

  async clearLoginFailures(scope: string): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('DELETE FROM login_failures WHERE scope = $1', [scope]);
      await client.query('DELETE FROM login_streaks WHERE scope = $1', [scope]);
    });
  }

  async claimTotpStep(userId: UserId, step: number): Promise<boolean> {
    // One statement: the row lock makes a concurrent claim of the same step wait, then find it taken.
    return (await this.db.query('UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2', [userId, step])).rowCount === 1;
  }

  async createEmergencyGrant(g: EmergencyGrant, audit: readonly AuditEvent[]): Promise<void> {
    await this.db.transaction(async (client) => {
      await client.query('INSERT INTO emergency_grants (id, user_id, code_hash, reason, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)', [g.id, g.userId, g.codeHash, g.reason, g.issuedAt, g.expiresAt]);
      await this.append(client, audit);
    });
  }

  async emergencyGrants(userId: UserId, now: number): Promise<EmergencyGrant[]> {
    const rows = await this.db.query<{ id: string; user_id: string; code_hash: string; reason: string; issued_at: string; expires_at: string; used_at: string | null }>(
      'SELECT * FROM emergency_grants WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2', [userId, now]);
    return rows.rows.map((r) => ({ id: r.id, userId: r.user_id as UserId, codeHash: r.code_hash, reason: r.reason, issuedAt: Number(r.issued_at), expiresAt: Number(r.expires_at), usedAt: nullableNumber(r.used_at) }));
  }
}
