/**
 * The embedded store's part of the hospital's directory (issue 18): accounts as rows, provisioning from a
 * source (planned by server/directory/provisioning.ts, written here in one IMMEDIATE transaction with its
 * audit records), and the directory search over the folded text each account keeps.
 */
import { randomUUID } from 'node:crypto';
import { UserIdSchema, type UserId } from '../../../shared/ids';
import type { Role } from '../../../shared/wire/relay';
import type { AuditEvent } from '../../audit/AuditRecord';
import type { DirectoryPerson, ProvisioningSource } from '../../directory/DirectoryPerson';
import { checkedPerson, directoryListing, directorySearchText, foldForSearch, planProvision, scimSourceOf } from '../../directory/provisioning';
import { MAX_DIRECTORY_RESULTS, type DirectoryListing, type ProvisionResult, type ProvisioningKind, type UserRecord, type UserStatus } from '../RelayStore';
import type { SqliteDatabase } from './SqliteDatabase';

export interface UserRow {
  id: string; username: string; display_name: string; role: string; status: string; password_hash: string | null; totp_secret: string | null;
  created_at: number; last_active_at: number; locked_until: number | null; deactivated_at: number | null; totp_last_step: number;
  department: string | null; job_title: string | null; contact: string | null; source: string; external_id: string | null; deactivated_by_source: string | null; deactivated_by_scim: string | null;
  sso_issuer: string | null; sso_subject: string | null; sso_signed_in_at: number | null;
}

export function toUser(r: UserRow): UserRecord {
  return {
    id: r.id as UserId, username: r.username, displayName: r.display_name, role: r.role as Role, status: r.status as UserStatus,
    passwordHash: r.password_hash, totpSecret: r.totp_secret, createdAt: r.created_at, lastActiveAt: r.last_active_at,
    lockedUntil: r.locked_until, deactivatedAt: r.deactivated_at, totpLastStep: r.totp_last_step,
    department: r.department, jobTitle: r.job_title, contact: r.contact, source: r.source as ProvisioningKind, externalId: r.external_id,
    deactivatedBySource: r.deactivated_by_source as ProvisioningKind | null,
    deactivatedByScim: r.deactivated_by_scim,
    sso: r.sso_issuer !== null && r.sso_subject !== null && r.sso_signed_in_at !== null ? { issuer: r.sso_issuer, subject: r.sso_subject, signedInAt: Number(r.sso_signed_in_at) } : null,
  };
}

/** What the directory needs of the store it is part of, inside the store's transaction. */
export interface SqliteDirectoryHost {
  appendAudit(events: readonly AuditEvent[]): void;
  /** Deactivates the account as `deactivateUser` does (devices revoked, control event); false when it already was. */
  deactivateIn(userId: UserId, at: number): boolean;
}

export class SqliteDirectory {
  readonly #sql: SqliteDatabase;
  readonly #host: SqliteDirectoryHost;

  constructor(sql: SqliteDatabase, host: SqliteDirectoryHost) {
    this.#sql = sql;
    this.#host = host;
    this.#fillSearchText();
  }

  byExternalId(source: ProvisioningKind, externalId: string): UserRecord | undefined {
    const row = this.#sql.get<UserRow>('SELECT * FROM users WHERE source = $s AND external_id = $e', { s: source, e: externalId });
    return row && toUser(row);
  }

  provision(person: DirectoryPerson, source: ProvisioningSource, at: number): ProvisionResult {
    const p = checkedPerson(person);
    return this.#sql.immediate(() => {
      const byUsername = this.#sql.get<UserRow>('SELECT * FROM users WHERE username = $u', { u: p.username });
      const plan = planProvision(p, source, { byExternalId: this.byExternalId(source.kind, p.externalId), byUsername: byUsername && toUser(byUsername) }, UserIdSchema.parse(randomUUID()));
      const { userId } = plan.result;
      const fields = { u: p.username, n: p.displayName, d: p.department, j: p.jobTitle, c: p.contact, s: source.kind, e: p.externalId, t: directorySearchText(p), id: userId };
      if (plan.create) {
        const deactivated = plan.create.status === 'deactivated';
        this.#sql.run(
          `INSERT INTO users (id, username, display_name, role, status, created_at, last_active_at, department, job_title, contact, source, external_id, search_text, deactivated_at, deactivated_by_source, deactivated_by_scim)
           VALUES ($id, $u, $n, 'clinician', $status, $at, $at, $d, $j, $c, $s, $e, $t, $deactivatedAt, $by, $byScim)`,
          { ...fields, status: plan.create.status, at, deactivatedAt: deactivated ? at : null, by: deactivated ? source.kind : null, byScim: deactivated ? scimSourceOf(source) : null },
        );
      }
      if (plan.update) {
        this.#sql.run('UPDATE users SET username = $u, display_name = $n, department = $d, job_title = $j, contact = $c, source = $s, external_id = $e, search_text = $t WHERE id = $id', fields);
      }
      if (plan.reactivateTo) {
        this.#sql.run('UPDATE users SET status = $status, deactivated_at = NULL, deactivated_by_source = NULL, deactivated_by_scim = NULL, locked_until = NULL, last_active_at = $at WHERE id = $id', { id: userId, status: plan.reactivateTo, at });
      }
      this.#host.appendAudit(plan.audit);
      if (plan.deactivate && this.#host.deactivateIn(userId, at)) {
        this.#sql.run('UPDATE users SET deactivated_by_source = $s, deactivated_by_scim = $o WHERE id = $id', { id: userId, s: source.kind, o: scimSourceOf(source) });
        this.#host.appendAudit(plan.deactivationAudit);
      }
      return plan.result;
    });
  }

  search(query: string, limit: number): DirectoryListing[] {
    const rows = this.#sql.all<UserRow>(
      `SELECT * FROM users WHERE status <> 'deactivated' AND instr(search_text, $q) > 0 ORDER BY search_text, username LIMIT $limit`,
      { q: foldForSearch(query.trim()), limit: Math.max(0, Math.min(limit, MAX_DIRECTORY_RESULTS)) },
    );
    return rows.map((r) => directoryListing(toUser(r)));
  }

  /** Inside a transaction that changed the account's name, username, department or job title: its search text again. */
  refreshSearchText(userId: UserId): void {
    const row = this.#sql.get<UserRow>('SELECT * FROM users WHERE id = $id', { id: userId });
    if (row) this.#sql.run('UPDATE users SET search_text = $t WHERE id = $id', { id: userId, t: directorySearchText(toUser(row)) });
  }

  /** Accounts from before the directory (or written by an older relay) get their search text. */
  #fillSearchText(): void {
    const missing = this.#sql.all<{ id: string }>('SELECT id FROM users WHERE search_text IS NULL');
    if (missing.length > 0) this.#sql.immediate(() => missing.forEach((r) => this.refreshSearchText(r.id as UserId)));
  }
}
