/**
 * The PostgreSQL store's part of the hospital's directory (issue 18): accounts as rows, provisioning from a
 * source (planned by server/directory/provisioning.ts, written here in one transaction with its audit
 * records), and the directory search over the folded text each account keeps. Two instances provisioning one
 * new person at once both insert; the unique index lets one commit, and the other tries again, finds the
 * account and updates it.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { UserIdSchema, type UserId } from '../../../shared/ids';
import type { Role } from '../../../shared/wire/relay';
import type { AuditEvent } from '../../audit/AuditRecord';
import type { DirectoryPerson, ProvisioningSource } from '../../directory/DirectoryPerson';
import { checkedPerson, directoryListing, directorySearchText, foldForSearch, planProvision, ProvisioningRefused, scimSourceOf } from '../../directory/provisioning';
import { MAX_DIRECTORY_RESULTS, type DirectoryListing, type ProvisionResult, type ProvisioningKind, type UserRecord, type UserStatus } from '../RelayStore';
import type { PostgresDatabase, Queryable } from './PostgresDatabase';
import { nullableNumber } from './PostgresDevices';

export interface UserRow {
  id: string; username: string; display_name: string; role: string; status: string; password_hash: string | null; totp_secret: string | null;
  created_at: string; last_active_at: string; locked_until: string | null; deactivated_at: string | null; totp_last_step: string;
  department: string | null; job_title: string | null; contact: string | null; source: string; external_id: string | null; deactivated_by_source: string | null; deactivated_by_scim: string | null;
  sso_issuer: string | null; sso_subject: string | null; sso_signed_in_at: string | null;
}

export function toUser(r: UserRow): UserRecord {
  return {
    id: r.id as UserId, username: r.username, displayName: r.display_name, role: r.role as Role, status: r.status as UserStatus,
    passwordHash: r.password_hash, totpSecret: r.totp_secret, createdAt: Number(r.created_at), lastActiveAt: Number(r.last_active_at),
    lockedUntil: nullableNumber(r.locked_until), deactivatedAt: nullableNumber(r.deactivated_at), totpLastStep: Number(r.totp_last_step),
    department: r.department, jobTitle: r.job_title, contact: r.contact, source: r.source as ProvisioningKind, externalId: r.external_id,
    deactivatedBySource: r.deactivated_by_source as ProvisioningKind | null,
    deactivatedByScim: r.deactivated_by_scim,
    sso: r.sso_issuer !== null && r.sso_subject !== null && r.sso_signed_in_at !== null ? { issuer: r.sso_issuer, subject: r.sso_subject, signedInAt: Number(r.sso_signed_in_at) } : null,
  };
}

/** PostgreSQL's unique_violation. */
const UNIQUE_VIOLATION = '23505';
/** Tries of one provisioning request that met another instance's insert of the same person (or username). */
const PROVISION_ATTEMPTS = 3;

/** What the directory needs of the store it is part of, inside the store's transaction. */
export interface PostgresDirectoryHost {
  appendAudit(client: pg.PoolClient, events: readonly AuditEvent[]): Promise<void>;
  /** Deactivates the account as `deactivateUser` does (devices revoked, control event); false when it already was. */
  deactivateIn(client: pg.PoolClient, userId: UserId, at: number): Promise<boolean>;
}

export class PostgresDirectory {
  readonly #db: PostgresDatabase;
  readonly #host: PostgresDirectoryHost;

  constructor(db: PostgresDatabase, host: PostgresDirectoryHost) {
    this.#db = db;
    this.#host = host;
  }

  async byExternalId(on: Queryable, source: ProvisioningKind, externalId: string): Promise<UserRecord | undefined> {
    const row = (await on.query<UserRow>('SELECT * FROM users WHERE source = $1 AND external_id = $2', [source, externalId])).rows[0];
    return row && toUser(row);
  }

  async provision(person: DirectoryPerson, source: ProvisioningSource, at: number): Promise<ProvisionResult> {
    const p = checkedPerson(person);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#db.transaction((client) => this.#provisionIn(client, p, source, at));
      } catch (error) {
        // Another instance inserted this person (or took this username) since we looked: look again.
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
        if (attempt >= PROVISION_ATTEMPTS) throw new ProvisioningRefused('usernameTaken', `the username ${p.username} belongs to another account`);
      }
    }
  }

  async #provisionIn(client: pg.PoolClient, p: DirectoryPerson, source: ProvisioningSource, at: number): Promise<ProvisionResult> {
    // Locked for the transaction: a concurrent change of these accounts waits for this one (and then sees it).
    const byExternalId = (await client.query<UserRow>('SELECT * FROM users WHERE source = $1 AND external_id = $2 FOR UPDATE', [source.kind, p.externalId])).rows[0];
    const byUsername = (await client.query<UserRow>('SELECT * FROM users WHERE username = $1 FOR UPDATE', [p.username])).rows[0];
    const plan = planProvision(p, source, { byExternalId: byExternalId && toUser(byExternalId), byUsername: byUsername && toUser(byUsername) }, UserIdSchema.parse(randomUUID()));
    const { userId } = plan.result;
    const fields = [userId, p.username, p.displayName, p.department, p.jobTitle, p.contact, source.kind, p.externalId, directorySearchText(p)];
    if (plan.create) {
      const deactivated = plan.create.status === 'deactivated';
      await client.query(
        `INSERT INTO users (id, username, display_name, department, job_title, contact, source, external_id, search_text, role, status, created_at, last_active_at, deactivated_at, deactivated_by_source, deactivated_by_scim)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'clinician', $10, $11, $11, $12, $13, $14)`,
        [...fields, plan.create.status, at, deactivated ? at : null, deactivated ? source.kind : null, deactivated ? scimSourceOf(source) : null],
      );
    }
    if (plan.update) {
      await client.query('UPDATE users SET username = $2, display_name = $3, department = $4, job_title = $5, contact = $6, source = $7, external_id = $8, search_text = $9 WHERE id = $1', fields);
    }
    if (plan.reactivateTo) {
      await client.query('UPDATE users SET status = $2, deactivated_at = NULL, deactivated_by_source = NULL, deactivated_by_scim = NULL, locked_until = NULL, last_active_at = $3 WHERE id = $1', [userId, plan.reactivateTo, at]);
    }
    // The deactivation (its control event's lock) before the audit records (the audit lock), in one append:
    // every transaction takes the two locks in that order, or a sign-in and a deprovisioning deadlock.
    const deactivated = plan.deactivate && (await this.#host.deactivateIn(client, userId, at));
    if (deactivated) await client.query('UPDATE users SET deactivated_by_source = $2, deactivated_by_scim = $3 WHERE id = $1', [userId, source.kind, scimSourceOf(source)]);
    await this.#host.appendAudit(client, deactivated ? [...plan.audit, ...plan.deactivationAudit] : plan.audit);
    return plan.result;
  }

  async search(query: string, limit: number): Promise<DirectoryListing[]> {
    // Byte order (COLLATE "C"), as SQLite sorts: the same list whatever the database's collation.
    const rows = await this.#db.query<UserRow>(
      `SELECT * FROM users WHERE status <> 'deactivated' AND strpos(search_text, $1) > 0 ORDER BY search_text COLLATE "C", username COLLATE "C" LIMIT $2`,
      [foldForSearch(query.trim()), Math.max(0, Math.min(limit, MAX_DIRECTORY_RESULTS))],
    );
    return rows.rows.map((r) => directoryListing(toUser(r)));
  }

  /** Inside a transaction that changed the account's name, username, department or job title: its search text again. */
  async refreshSearchText(client: Queryable, userId: UserId): Promise<void> {
    const row = (await client.query<UserRow>('SELECT * FROM users WHERE id = $1', [userId])).rows[0];
    if (row) await client.query('UPDATE users SET search_text = $2 WHERE id = $1', [userId, directorySearchText(toUser(row))]);
  }

  /** Accounts from before the directory (or written by an older relay) get their search text (when the store opens). */
  static async fillSearchText(db: PostgresDatabase): Promise<void> {
    const missing = (await db.query<UserRow>('SELECT * FROM users WHERE search_text IS NULL')).rows;
    if (missing.length === 0) return;
    await db.query(
      'UPDATE users SET search_text = v.t FROM unnest($1::text[], $2::text[]) AS v(id, t) WHERE users.id = v.id AND users.search_text IS NULL',
      [missing.map((r) => r.id), missing.map((r) => directorySearchText(toUser(r)))],
    );
  }
}
