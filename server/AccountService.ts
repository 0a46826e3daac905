import { randomUUID } from 'node:crypto';
import { UserIdSchema, type DeviceAddress, type DeviceId, type UserId } from '../shared/ids';
import type { KeyUpload } from '../shared/wire/keys';
import type { Role, SessionResponse } from '../shared/wire/relay';
import type { AuditEvent } from './audit/AuditRecord';
import { LoginThrottle, accountScope, addressScope, emergencyScope } from './auth/LoginThrottle';
import { PasswordHasher, checkPasswordPolicy } from './auth/passwords';
import { codeHash, credentialDevice, newCredential, newOneTimeCode, sha256Hex, sameHash } from './auth/secrets';
import { newTotpSecret, totpStep, totpUri } from './auth/totp';
import { KeyedMutex } from './auth/KeyedMutex';
import type { Clock } from './Clock';
import type { RelayConfig } from './RelayConfig';
import { RelayFailure } from './RelayFailure';
import type { DeviceRecord, NewDevice, RelayStore, UserRecord } from './storage/RelayStore';

/** How long a socket's authorisation is reused between frames. */
const AUTHORIZATION_TTL_MS = 500;

/** Who is calling: an authenticated device, or an anonymous client at a network address. */
export interface Caller {
  readonly address: string;
}

/*
 * Accounts, enrollment, login and device credentials (HIPAA: unique user identification, person
 * authentication). Passwords, codes and TOTP secrets never appear in errors, logs or audit records.
 */
export class AccountService {
  readonly #throttle: LoginThrottle;
  readonly #passwords: PasswordHasher;
  readonly #signIns = new KeyedMutex();
  readonly #recentlyAuthorized = new Map<string, number>();

  constructor(
    private readonly store: RelayStore,
    private readonly clock: Clock,
    private readonly config: RelayConfig,
    /** Told whenever a sign-in adds or renews a device, so caches of a user's devices are dropped. */
    private readonly onDevicesChanged: (userId: UserId) => void = () => undefined,
  ) {
    this.#throttle = new LoginThrottle(store, clock, config.throttle);
    this.#passwords = new PasswordHasher(config.argon2);
  }

  // --- Admin commands --------------------------------------------------------------------------------

  /** Creates an account (no self-registration) and returns its one-time enrollment code. */
  async addUser(username: string, displayName: string, role: Role): Promise<{ userId: UserId; enrollmentCode: string; expiresAt: number }> {
    const now = this.clock.now();
    const code = newOneTimeCode();
    const expiresAt = now + this.config.enrollmentCodeTtlMs;
    const existing = await this.store.userByUsername(username);
    if (existing) {
      if (existing.status !== 'pending') throw new RelayFailure('BAD_REQUEST', `user ${username} already exists`);
      await this.store.replaceEnrollmentCode(existing.id, codeHash(code), expiresAt, [{ type: 'account.created', actor: 'admin', subject: existing.id, details: { newEnrollmentCode: true } }]);
      return { userId: existing.id, enrollmentCode: code, expiresAt };
    }
    const userId = UserIdSchema.parse(randomUUID());
    await this.store.createUser(
      { id: userId, username, displayName, role, status: 'pending', createdAt: now, lastActiveAt: now },
      codeHash(code),
      expiresAt,
      [{ type: 'account.created', actor: 'admin', subject: userId, details: { username, role } }],
    );
    return { userId, enrollmentCode: code, expiresAt };
  }

  async requireUser(username: string): Promise<UserRecord> {
    const user = await this.store.userByUsername(username);
    if (!user) throw new RelayFailure('NOT_FOUND', `no user ${username}`);
    return user;
  }

  async deactivate(username: string, actor = 'admin', reason = 'admin'): Promise<void> {
    const user = await this.requireUser(username);
    if (user.status === 'deactivated') return;
    await this.store.deactivateUser(user.id, this.clock.now(), [{ type: actor === 'system' ? 'account.inactive' : 'account.deactivated', actor, subject: user.id, details: { reason } }]);
  }

  /** Lifts a lockout (it does not reactivate a deactivated account: that is `reactivate`). */
  async unlock(username: string): Promise<void> {
    const user = await this.requireUser(username);
    await this.store.clearLoginFailures(accountScope(user.id));
    await this.store.updateUser(user.id, { lockedUntil: null }, [{ type: 'account.unlocked', actor: 'admin', subject: user.id, details: {} }]);
  }

  /** Brings back a deactivated account (its old devices stay revoked; the clinician signs in anew). */
  async reactivate(username: string): Promise<void> {
    const user = await this.requireUser(username);
    if (user.status !== 'deactivated') throw new RelayFailure('BAD_REQUEST', `user ${username} is not deactivated`);
    await this.store.updateUser(user.id, { status: user.passwordHash ? 'active' : 'pending', deactivatedAt: null, lockedUntil: null, lastActiveAt: this.clock.now() }, [
      { type: 'account.reactivated', actor: 'admin', subject: user.id, details: {} },
    ]);
  }

  /** An emergency sign-in for a clinician who is locked out or lost a device: time-limited, flagged. */
  async issueEmergency(username: string, reason: string): Promise<{ code: string; expiresAt: number }> {
    const trimmed = reason.trim();
    if (trimmed.length < 3) throw new RelayFailure('BAD_REQUEST', 'a reason is required for emergency access');
    if (trimmed.length > 300) throw new RelayFailure('BAD_REQUEST', 'keep the reason under 300 characters (no patient details: it is kept in the audit log)');
    const user = await this.requireUser(username);
    if (user.status !== 'active') throw new RelayFailure('ACCOUNT_INACTIVE', `user ${username} is not active`);
    const now = this.clock.now();
    const code = newOneTimeCode();
    const expiresAt = now + this.config.emergencyGrantMs;
    await this.store.createEmergencyGrant(
      { id: randomUUID(), userId: user.id, codeHash: codeHash(code), reason: trimmed, issuedAt: now, expiresAt, usedAt: null },
      [{ type: 'emergency.issued', actor: 'admin', subject: user.id, details: { reason: trimmed, expiresAt }, flagged: true }],
    );
    return { code, expiresAt };
  }

  async revokeDevice(username: string, deviceId: DeviceId): Promise<void> {
    const user = await this.requireUser(username);
    const device = await this.store.device(user.id, deviceId);
    if (!device || device.revokedAt !== null) throw new RelayFailure('NOT_FOUND', `no active device ${deviceId} for ${username}`);
    await this.store.revokeDevice(user.id, deviceId, this.clock.now(), [{ type: 'device.revoked', actor: 'admin', subject: `${user.id}.${deviceId}`, details: {} }]);
  }

  /** Deactivates accounts unused for the configured number of days; returns their usernames. */
  async deactivateInactive(): Promise<string[]> {
    if (this.config.inactivityDays <= 0) return [];
    const cutoff = this.clock.now() - this.config.inactivityDays * 24 * 3600_000;
    const stale = (await this.store.listUsers()).filter((u) => u.status !== 'deactivated' && u.lastActiveAt < cutoff);
    for (const user of stale) await this.deactivate(user.username, 'system', `unused for ${this.config.inactivityDays} days`);
    return stale.map((u) => u.username);
  }

  // --- Enrollment and login --------------------------------------------------------------------------

  async beginEnrollment(username: string, code: string, caller: Caller) {
    await this.#throttle.check(addressScope(caller.address));
    const now = this.clock.now();
    const owner = await this.store.enrollmentCodeOwner(codeHash(code), now);
    const user = owner ? await this.store.userById(owner) : undefined;
    if (!user || user.username !== username || user.status !== 'pending') {
      await this.store.recordLoginFailure([addressScope(caller.address)], now, [{ type: 'login.failure', actor: `anonymous@${caller.address}`, subject: user?.id ?? '', details: { step: 'enrollment', username } }]);
      throw new RelayFailure('INVALID_CODE', 'this enrollment code is not valid for this username (it may have expired or been used)');
    }
    const secret = newTotpSecret();
    const enrollmentId = randomUUID();
    const expiresAt = now + 30 * 60_000;
    await this.store.createPendingEnrollment({ id: enrollmentId, userId: user.id, codeHash: codeHash(code), totpSecret: secret, expiresAt });
    return { enrollmentId, displayName: user.displayName, totpSecret: secret, totpUri: totpUri(secret, user.username), expiresAt };
  }

  async completeEnrollment(enrollmentId: string, password: string, totpCode: string, device: { name: string; keys: KeyUpload; auditKey?: string | undefined }, caller: Caller): Promise<SessionResponse> {
    await this.#throttle.check(addressScope(caller.address));
    const now = this.clock.now();
    const pending = await this.store.pendingEnrollment(enrollmentId);
    if (!pending || pending.expiresAt < now) throw new RelayFailure('INVALID_CODE', 'this enrollment has expired; start again with the enrollment code');
    const user = await this.store.userById(pending.userId);
    if (!user || user.status !== 'pending') throw new RelayFailure('INVALID_CODE', 'this account is already enrolled');
    const problems = checkPasswordPolicy(password, [user.username, user.displayName]);
    if (problems.length > 0) throw new RelayFailure('PASSWORD_POLICY', 'the password does not meet the policy', { issues: problems });
    const step = totpStep(pending.totpSecret, totpCode, now);
    if (step === null) {
      await this.store.recordLoginFailure([addressScope(caller.address)], now, [{ type: 'login.failure', actor: `anonymous@${caller.address}`, subject: user.id, details: { step: 'enrollment-totp' } }]);
      throw new RelayFailure('INVALID_CREDENTIALS', 'the one-time code from the authenticator app is not correct');
    }
    const passwordHash = await this.#passwords.hash(password);
    const issued = this.#newDevice(user.id, device, null);
    const deviceId = await this.store.completeEnrollment(pending, passwordHash, issued.device, now, [
      { type: 'account.enrolled', actor: `anonymous@${caller.address}`, subject: user.id, details: {} },
      { type: 'device.enrolled', actor: `anonymous@${caller.address}`, subject: user.id, details: { name: device.name, auditKey: device.auditKey ?? null } },
    ]);
    await this.store.updateUser(user.id, { totpLastStep: step }, []);
    return this.#session({ ...user, status: 'active' }, deviceId, issued.credential(), null);
  }

  /**
   * Password + TOTP, for a new device or to sign an existing device in again. Attempts for the same
   * account or from the same address run one at a time, so the throttle and the lockout see every
   * earlier attempt's outcome before the next guess is verified.
   */
  async login(username: string, password: string, totpCode: string, device: { kind: 'new'; name: string; keys: KeyUpload; auditKey?: string | undefined } | { kind: 'existing'; deviceId: DeviceId }, caller: Caller): Promise<SessionResponse> {
    const known = await this.store.userByUsername(username);
    return this.#signIns.run([addressScope(caller.address), ...(known ? [accountScope(known.id)] : [])], () => this.#login(username, password, totpCode, device, caller));
  }

  async #login(username: string, password: string, totpCode: string, device: { kind: 'new'; name: string; keys: KeyUpload; auditKey?: string | undefined } | { kind: 'existing'; deviceId: DeviceId }, caller: Caller): Promise<SessionResponse> {
    const now = this.clock.now();
    const user = await this.store.userByUsername(username);
    const actor = `anonymous@${caller.address}`;
    const throttled = async (scope: string) => {
      try {
        await this.#throttle.check(scope);
      } catch (error) {
        await this.store.appendAudit([{ type: 'login.throttled', actor, subject: user?.id ?? '', details: {} }]);
        throw error;
      }
    };
    await throttled(addressScope(caller.address));
    // Refusals that need no password check still count against the address, so they cannot be used to
    // probe accounts (or to fill the audit log) at full speed. A locked account says so plainly.
    if (user?.lockedUntil && user.lockedUntil > now) {
      await this.store.recordLoginFailure([addressScope(caller.address)], now, [{ type: 'login.failure', actor, subject: user.id, details: { reason: 'account locked' } }]);
      throw new RelayFailure('ACCOUNT_LOCKED', 'this account is locked after too many failed sign-ins; ask your administrator or wait');
    }
    if (user) await throttled(accountScope(user.id));
    if (!user || user.status === 'pending') {
      await this.#passwords.verifyNothing(password);
      await this.store.recordLoginFailure([addressScope(caller.address)], now, [{ type: 'login.failure', actor, subject: '', details: { reason: 'unknown user' } }]);
      throw new RelayFailure('INVALID_CREDENTIALS', 'username, password or one-time code is not correct');
    }
    if (user.status === 'deactivated') {
      await this.store.recordLoginFailure([addressScope(caller.address)], now, [{ type: 'login.failure', actor, subject: user.id, details: { reason: 'account deactivated' } }]);
      throw new RelayFailure('ACCOUNT_INACTIVE', 'this account is deactivated; ask your administrator');
    }
    const passwordOk = user.passwordHash !== null && (await this.#passwords.verify(user.passwordHash, password));
    const step = passwordOk && user.totpSecret !== null ? totpStep(user.totpSecret, totpCode, now) : null;
    if (!passwordOk || step === null || step <= user.totpLastStep) {
      await this.#recordFailure(user, caller, passwordOk ? 'one-time code' : 'password', now);
      throw new RelayFailure('INVALID_CREDENTIALS', 'username, password or one-time code is not correct');
    }
    await this.store.clearLoginFailures(accountScope(user.id));
    await this.store.updateUser(user.id, { lastActiveAt: now, lockedUntil: null, totpLastStep: step }, []);
    if (device.kind === 'existing') {
      const existing = await this.store.device(user.id, device.deviceId);
      if (!existing || existing.revokedAt !== null) throw new RelayFailure('UNKNOWN_DEVICE', 'this device was revoked; sign in as a new device');
      const credential = newCredential({ userId: user.id, deviceId: device.deviceId });
      await this.store.replaceCredential(user.id, device.deviceId, sha256Hex(credential), [
        { type: 'login.success', actor: `${user.id}.${device.deviceId}`, subject: user.id, details: { device: device.deviceId } },
      ]);
      return this.#session(user, device.deviceId, credential, existing.expiresAt);
    }
    const issued = this.#newDevice(user.id, device, null);
    const deviceId = await this.store.addDevice(user.id, issued.device, now, [
      { type: 'login.success', actor, subject: user.id, details: { newDevice: true } },
      { type: 'device.enrolled', actor, subject: user.id, details: { name: device.name, auditKey: device.auditKey ?? null } },
    ]);
    return this.#session(user, deviceId, issued.credential(), null);
  }

  async emergencyLogin(username: string, code: string, device: { name: string; keys: KeyUpload; auditKey?: string | undefined }, caller: Caller): Promise<SessionResponse> {
    return this.#signIns.run([emergencyScope(caller.address)], () => this.#emergencyLogin(username, code, device, caller));
  }

  async #emergencyLogin(username: string, code: string, device: { name: string; keys: KeyUpload; auditKey?: string | undefined }, caller: Caller): Promise<SessionResponse> {
    const now = this.clock.now();
    await this.#throttle.check(emergencyScope(caller.address));
    const user = await this.store.userByUsername(username);
    const grant = user && (await this.store.emergencyGrants(user.id, now)).find((g) => sameHash(g.codeHash, codeHash(code)));
    if (!user || !grant || user.status !== 'active') {
      await this.store.recordLoginFailure([emergencyScope(caller.address)], now, [{ type: 'login.failure', actor: `anonymous@${caller.address}`, subject: user?.id ?? '', details: { reason: 'emergency code', username }, flagged: true }]);
      throw new RelayFailure('INVALID_CODE', 'this emergency code is not valid (it may have expired or been used)');
    }
    const issued = this.#newDevice(user.id, device, grant.expiresAt);
    const deviceId = await this.store.useEmergencyGrant(grant.id, issued.device, now, [
      { type: 'emergency.used', actor: `anonymous@${caller.address}`, subject: user.id, details: { reason: grant.reason, expiresAt: grant.expiresAt }, flagged: true },
    ]);
    // An emergency sign-in also lifts a lockout: that is what it is for.
    await this.store.updateUser(user.id, { lockedUntil: null, lastActiveAt: now }, []);
    await this.store.clearLoginFailures(accountScope(user.id));
    return this.#session(user, deviceId, issued.credential(), grant.expiresAt);
  }

  /**
   * For an open socket, before each frame: the device is still active, not expired, its credential has
   * not been replaced by a newer sign-in, and its account is active. Throws UNAUTHENTICATED otherwise.
   */
  async recheck(address: DeviceAddress, credentialHash: string): Promise<void> {
    const now = this.clock.now();
    const cacheKey = `${address.userId}.${address.deviceId}:${credentialHash}`;
    if ((this.#recentlyAuthorized.get(cacheKey) ?? 0) > now) return;
    const device = await this.store.device(address.userId, address.deviceId);
    if (!device || device.revokedAt !== null || device.credentialHash !== credentialHash || (device.expiresAt !== null && device.expiresAt <= now)) {
      throw new RelayFailure('UNAUTHENTICATED', 'this device credential is no longer valid');
    }
    const user = await this.store.userById(address.userId);
    if (user?.status !== 'active') throw new RelayFailure('UNAUTHENTICATED', 'this account is not active');
    // Remembered briefly: a busy socket's frames do not each re-read the same rows. Revocations and
    // deactivations clear it at once (forget()); an emergency sign-in's end is still checked here.
    const until = Math.min(now + AUTHORIZATION_TTL_MS, device.expiresAt ?? Number.MAX_SAFE_INTEGER);
    this.#recentlyAuthorized.set(cacheKey, until);
    if (this.#recentlyAuthorized.size > 100_000) this.#recentlyAuthorized.clear();
  }

  /** Drops what recheck() remembers about a user's devices (after a revocation or deactivation). */
  forget(userId: UserId): void {
    for (const key of this.#recentlyAuthorized.keys()) if (key.startsWith(`${userId}.`)) this.#recentlyAuthorized.delete(key);
  }

  /** Checks a bearer credential; returns the device it belongs to or throws UNAUTHENTICATED. */
  async authenticate(credential: string | undefined): Promise<{ user: UserRecord; device: DeviceRecord; address: DeviceAddress }> {
    const named = credential ? credentialDevice(credential) : undefined;
    if (!credential || !named) throw new RelayFailure('UNAUTHENTICATED', 'a device credential is required');
    const parsed = UserIdSchema.safeParse(named.userId);
    if (!parsed.success) throw new RelayFailure('UNAUTHENTICATED', 'unknown device credential');
    const device = await this.store.device(parsed.data, named.deviceId as DeviceId);
    const now = this.clock.now();
    if (!device || !sameHash(device.credentialHash, sha256Hex(credential))) throw new RelayFailure('UNAUTHENTICATED', 'unknown device credential');
    if (device.revokedAt !== null) throw new RelayFailure('UNAUTHENTICATED', 'this device was revoked');
    if (device.expiresAt !== null && device.expiresAt <= now) throw new RelayFailure('UNAUTHENTICATED', 'this emergency sign-in has expired');
    const user = await this.store.userById(device.userId);
    if (!user || user.status !== 'active') throw new RelayFailure('ACCOUNT_INACTIVE', 'this account is not active');
    return { user, device, address: { userId: device.userId, deviceId: device.deviceId } };
  }

  async #recordFailure(user: UserRecord, caller: Caller, factor: string, now: number): Promise<void> {
    const audit: AuditEvent[] = [{ type: 'login.failure', actor: `anonymous@${caller.address}`, subject: user.id, details: { factor } }];
    await this.store.recordLoginFailure([accountScope(user.id), addressScope(caller.address)], now, audit);
    if ((await this.#throttle.accountFailures(user.id)) >= this.config.throttle.lockAfter) {
      await this.store.updateUser(user.id, { lockedUntil: this.#throttle.lockedUntil(now) }, [
        { type: 'account.locked', actor: 'system', subject: user.id, details: { failures: this.config.throttle.lockAfter }, flagged: true },
      ]);
    }
  }

  /** A new device whose credential is minted inside the store's transaction, once its id is known. */
  #newDevice(userId: UserId, device: { name: string; keys: KeyUpload; auditKey?: string | undefined }, expiresAt: number | null): { device: NewDevice; credential: () => string } {
    let credential: string | undefined;
    return {
      device: {
        name: device.name,
        keys: device.keys,
        expiresAt,
        credentialHashFor: (deviceId) => {
          credential = newCredential({ userId, deviceId });
          return sha256Hex(credential);
        },
      },
      credential: () => {
        if (!credential) throw new RelayFailure('INTERNAL', 'device credential was not issued');
        return credential;
      },
    };
  }

  async #session(user: UserRecord, deviceId: DeviceId, credential: string, expiresAt: number | null): Promise<SessionResponse> {
    this.onDevicesChanged(user.id);
    return {
      userId: user.id, deviceId, credential, role: user.role, displayName: user.displayName, expiresAt,
      preKeys: await this.store.keyCount(user.id, deviceId),
    } as SessionResponse;
  }
}
