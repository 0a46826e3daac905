/**
 * The PostgreSQL store's part of single sign-on (issue 18): sign-ins begun at the identity provider, kept by
 * their state for every relay instance until one completes it (single use: the DELETE that returns it is the
 * claim, so of two instances taking one state only one gets it) or it expires, and the completed sign-ins
 * recorded on accounts.
 */
import type pg from 'pg';
import type { UserId } from '../../../shared/ids';
import type { AuditEvent } from '../../audit/AuditRecord';
import type { OidcPendingSignIn } from '../../auth/oidc/OidcRelyingParty';
import type { SsoLink, SsoSignInOutcome, UserRecord } from '../RelayStore';
import { linkable, parsePending } from '../ssoSignIns';
import type { PostgresDatabase, Queryable } from './PostgresDatabase';
import { toUser, type UserRow } from './PostgresDirectory';

export class PostgresSsoSignIns {
  readonly #db: PostgresDatabase;
  readonly #appendAudit: (client: pg.PoolClient, events: readonly AuditEvent[]) => Promise<void>;

  constructor(db: PostgresDatabase, appendAudit: (client: pg.PoolClient, events: readonly AuditEvent[]) => Promise<void>) {
    this.#db = db;
    this.#appendAudit = appendAudit;
  }

  async create(pending: OidcPendingSignIn, expiresAt: number): Promise<void> {
    await this.#db.transaction(async (client) => {
      await client.query('DELETE FROM pending_sso_sign_ins WHERE expires_at <= $1', [pending.createdAt]);
      await client.query('INSERT INTO pending_sso_sign_ins (state, pending, expires_at) VALUES ($1, $2, $3)', [pending.state, JSON.stringify(pending), expiresAt]);
    });
  }

  async take(state: string, now: number): Promise<OidcPendingSignIn | undefined> {
    return this.#db.transaction(async (client) => {
      const row = (await client.query<{ pending: string; expires_at: string }>('DELETE FROM pending_sso_sign_ins WHERE state = $1 RETURNING pending, expires_at', [state])).rows[0];
      await client.query('DELETE FROM pending_sso_sign_ins WHERE expires_at <= $1', [now]);
      return row && Number(row.expires_at) > now ? parsePending(row.pending) : undefined;
    });
  }

  async userBySubject(on: Queryable, issuer: string, subject: string): Promise<UserRecord | undefined> {
    const row = (await on.query<UserRow>('SELECT * FROM users WHERE sso_issuer = $1 AND sso_subject = $2', [issuer, subject])).rows[0];
    return row && toUser(row);
  }

  async record(userId: UserId, link: SsoLink, audit: readonly AuditEvent[], activationAudit: readonly AuditEvent[]): Promise<SsoSignInOutcome> {
    return this.#db.transaction(async (client) => {
      // Locked: a provisioning deactivation or another sign-in of this account waits for this one (and sees it).
      const row = (await client.query<UserRow>('SELECT * FROM users WHERE id = $1 FOR UPDATE', [userId])).rows[0];
      const user = row && toUser(row);
      if (!user || !linkable(user, link, await this.userBySubject(client, link.issuer, link.subject))) return 'refused';
      await client.query(
        `UPDATE users SET sso_issuer = $2, sso_subject = $3, sso_signed_in_at = $4, last_active_at = $4, status = 'active' WHERE id = $1`,
        [userId, link.issuer, link.subject, link.signedInAt],
      );
      await this.#appendAudit(client, audit);
      if (user.status === 'pending') await this.#appendAudit(client, activationAudit);
      return user.status === 'pending' ? 'activated' : 'signedIn';
    });
  }
}
