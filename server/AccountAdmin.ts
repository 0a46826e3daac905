/**
 * The admin commands that change an account's state (`rounds-server user add|deactivate|reactivate|sso-only`,
 * `device revoke`, and housekeeping's deactivation of unused accounts), each audited with the admin who ran
 * it. AccountService hands them over; sign-in itself stays there.
 */
import { randomUUID } from 'node:crypto';
import { UserIdSchema, type DeviceId, type UserId } from '../shared/ids';
import type { Role } from '../shared/wire/relay';
import { codeHash, newOneTimeCode } from './auth/secrets';
import type { Clock } from './Clock';
import { updateDirectoryFields, type DirectoryFieldsPatch } from './directory/adminDirectory';
import type { RelayConfig } from './RelayConfig';
import { RelayFailure } from './RelayFailure';
import type { RelayStore, UserRecord } from './storage/RelayStore';

export class AccountAdmin {
  constructor(
    private readonly store: RelayStore,
    private readonly clock: Clock,
    private readonly config: RelayConfig,
    /** Who the commands are done by, as audit records name them (AccountService's `admin`). */
    private readonly admin: string,
  ) {}

  /**
   * Creates an account (no self-registration) and returns its one-time enrollment code; for an account still
   * to enroll, a new code (and the directory fields given, as `user update` sets them).
   */
  async addUser(username: string, displayName: string, role: Role, fields: DirectoryFieldsPatch = {}): Promise<{ userId: UserId; enrollmentCode: string; expiresAt: number }> {
    const now = this.clock.now();
    const code = newOneTimeCode();
    const expiresAt = now + this.config.enrollmentCodeTtlMs;
    const existing = await this.store.userByUsername(username);
    if (existing) {
      if (existing.status !== 'pending') throw new RelayFailure('BAD_REQUEST', `user ${username} already exists`);
      await this.store.replaceEnrollmentCode(existing.id, codeHash(code), expiresAt, [{ type: 'account.created', actor: this.admin, subject: existing.id, details: { newEnrollmentCode: true } }]);
      await updateDirectoryFields(this.store, this.admin, username, fields);
      return { userId: existing.id, enrollmentCode: code, expiresAt };
    }
    const userId = UserIdSchema.parse(randomUUID());
    await this.store.createUser(
      { id: userId, username, displayName, role, status: 'pending', createdAt: now, lastActiveAt: now, ...fields },
      codeHash(code),
      expiresAt,
      [{ type: 'account.created', actor: this.admin, subject: userId, details: { username, role, ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== null && v !== undefined)) } }],
    );
    return { userId, enrollmentCode: code, expiresAt };
  }

  async requireUser(username: string): Promise<UserRecord> {
    const user = await this.store.userByUsername(username);
    if (!user) throw new RelayFailure('NOT_FOUND', `no user ${username}`);
    return user;
  }

  async deactivate(username: string, actor = this.admin, reason = 'admin'): Promise<void> {
    const user = await this.requireUser(username);
    if (user.status === 'deactivated') {
      // Deactivated by a directory source: an admin deactivating it too makes it the admin's, so that source
      // saying the person is active again does not bring the account back.
      if (user.deactivatedBySource !== null && actor !== 'system') {
        await this.store.updateUser(user.id, { deactivatedBySource: null }, [{ type: 'account.deactivated', actor, subject: user.id, details: { reason, tookOverFrom: user.deactivatedBySource } }]);
      }
      return;
    }
    await this.store.deactivateUser(user.id, this.clock.now(), [{ type: actor === 'system' ? 'account.inactive' : 'account.deactivated', actor, subject: user.id, details: { reason } }]);
  }

  /** Brings back a deactivated account (its old devices stay revoked; the clinician signs in anew). */
  async reactivate(username: string): Promise<void> {
    const user = await this.requireUser(username);
    if (user.status !== 'deactivated') throw new RelayFailure('BAD_REQUEST', `user ${username} is not deactivated`);
    await this.store.updateUser(user.id, { status: user.passwordHash ? 'active' : 'pending', deactivatedAt: null, lockedUntil: null, lastActiveAt: this.clock.now() }, [
      { type: 'account.reactivated', actor: this.admin, subject: user.id, details: {} },
    ]);
  }

  /**
   * Moves a clinician's account to single sign-on: its password and authenticator are forgotten, so the next
   * sign-in at the identity provider with its username links it (an account with a password is never linked
   * by username alone). Its enrolled workstations keep working until then.
   */
  async ssoOnly(username: string): Promise<void> {
    const user = await this.requireUser(username);
    if (user.role !== 'clinician') throw new RelayFailure('BAD_REQUEST', `${username} is an ${user.role} account: those sign in with a password and authenticator`);
    if (user.status === 'deactivated') throw new RelayFailure('BAD_REQUEST', `user ${username} is deactivated`);
    await this.store.updateUser(user.id, { passwordHash: null, totpSecret: null }, [{ type: 'account.sso_only', actor: this.admin, subject: user.id, details: {} }]);
  }

  async revokeDevice(username: string, deviceId: DeviceId): Promise<void> {
    const user = await this.requireUser(username);
    const device = await this.store.device(user.id, deviceId);
    if (!device || device.revokedAt !== null) throw new RelayFailure('NOT_FOUND', `no active device ${deviceId} for ${username}`);
    await this.store.revokeDevice(user.id, deviceId, this.clock.now(), [{ type: 'device.revoked', actor: this.admin, subject: `${user.id}.${deviceId}`, details: {} }]);
  }

  /** Deactivates accounts unused for the configured number of days; returns their usernames. */
  async deactivateInactive(): Promise<string[]> {
    if (this.config.inactivityDays <= 0) return [];
    const cutoff = this.clock.now() - this.config.inactivityDays * 24 * 3600_000;
    const stale = (await this.store.listUsers()).filter((u) => u.status !== 'deactivated' && u.lastActiveAt < cutoff);
    for (const user of stale) await this.deactivate(user.username, 'system', `unused for ${this.config.inactivityDays} days`);
    return stale.map((u) => u.username);
  }
}
