/**
 * The embedded store's part of single sign-on (issue 18): sign-ins begun at the identity provider, kept by their
 * state until completed (single use) or expired, and the completed sign-ins recorded on accounts.
 */
import type { UserId } from '../../../shared/ids';
import type { AuditEvent } from '../../audit/AuditRecord';
import type { OidcPendingSignIn } from '../../auth/oidc/OidcRelyingParty';
import { linkable, parsePending } from '../ssoSignIns';
import type { SsoLink, SsoSignInOutcome, UserRecord } from '../RelayStore';
import type { SqliteDatabase } from './SqliteDatabase';
import { toUser, type UserRow } from './SqliteDirectory';

export class SqliteSsoSignIns {
  readonly #sql: SqliteDatabase;
  readonly #appendAudit: (events: readonly AuditEvent[]) => void;

  constructor(sql: SqliteDatabase, appendAudit: (events: readonly AuditEvent[]) => void) {
    this.#sql = sql;
    this.#appendAudit = appendAudit;
  }

  create(pending: OidcPendingSignIn, expiresAt: number): void {
    this.#sql.immediate(() => {
      this.#sql.run('DELETE FROM pending_sso_sign_ins WHERE expires_at <= $now', { now: pending.createdAt });
      this.#sql.run('INSERT INTO pending_sso_sign_ins (state, pending, expires_at) VALUES ($state, $pending, $expiresAt)', { state: pending.state, pending: JSON.stringify(pending), expiresAt });
    });
  }

  take(state: string, now: number): OidcPendingSignIn | undefined {
    return this.#sql.immediate(() => {
      const row = this.#sql.get<{ pending: string; expires_at: number }>('DELETE FROM pending_sso_sign_ins WHERE state = $state RETURNING pending, expires_at', { state });
      this.#sql.run('DELETE FROM pending_sso_sign_ins WHERE expires_at <= $now', { now });
      return row && row.expires_at > now ? parsePending(row.pending) : undefined;
    });
  }

  userBySubject(issuer: string, subject: string): UserRecord | undefined {
    const row = this.#sql.get<UserRow>('SELECT * FROM users WHERE sso_issuer = $i AND sso_subject = $s', { i: issuer, s: subject });
    return row && toUser(row);
  }

  record(userId: UserId, link: SsoLink, audit: readonly AuditEvent[], activationAudit: readonly AuditEvent[]): SsoSignInOutcome {
    return this.#sql.immediate(() => {
      const row = this.#sql.get<UserRow>('SELECT * FROM users WHERE id = $id', { id: userId });
      const holder = this.userBySubject(link.issuer, link.subject);
      const user = row && toUser(row);
      if (!user || !linkable(user, link, holder)) return 'refused';
      this.#sql.run(
        `UPDATE users SET sso_issuer = $i, sso_subject = $s, sso_signed_in_at = $at, last_active_at = $at, status = 'active' WHERE id = $id`,
        { id: userId, i: link.issuer, s: link.subject, at: link.signedInAt },
      );
      this.#appendAudit(audit);
      if (user.status === 'pending') this.#appendAudit(activationAudit);
      return user.status === 'pending' ? 'activated' : 'signedIn';
    });
  }
}
