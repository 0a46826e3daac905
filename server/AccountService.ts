import { randomUUID } from 'node:crypto';
import { type DeviceAddress, type DeviceId, type UserId } from '../shared/ids';
import type { Role, SessionResponse } from '../shared/wire/relay';
import { AccountAdmin } from './AccountAdmin';
import { EmergencyAccess } from './auth/EmergencyAccess';
import { LoginThrottle, accountScope, addressScope, deviceScope, enrollmentScope, usernameScope } from './auth/LoginThrottle';
import { hasNewDeviceKeys, incompleteKeys, newDevice, sessionResponse, type NewDeviceRequest } from './auth/NewDevices';
import { PasswordHasher, checkPasswordPolicy } from './auth/passwords';
import { DeviceCredentials, type Caller } from './auth/DeviceCredentials';

export type { Caller } from './auth/DeviceCredentials';
import { codeHash, credentialDevice, newCredential, sha256Hex, sameHash } from './auth/secrets';
import { SignInChecks } from './auth/SignInChecks';
import { newTotpSecret, totpStep, totpUri } from './auth/totp';
import { KeyedMutex } from './auth/KeyedMutex';
import type { Clock } from './Clock';
import type { RelayConfig } from './RelayConfig';
import { RelayFailure } from './RelayFailure';
import type { RelayStore, UserRecord } from './storage/RelayStore';
import type { DirectoryFieldsPatch } from './directory/adminDirectory';
import type { SsoBeginRequest, SsoBeginResponse, SsoCompleteRequest, SsoProviderResponse } from '../shared/wire/sso';
import { OidcRelyingParty } from './auth/oidc/OidcRelyingParty';
import { readOidcClientSecret } from './auth/oidc/OidcConfig';
import { SingleSignOn } from './auth/SingleSignOn';
import { InMemoryRateLimiter } from './RateLimiter';

/** The actor of admin commands run inside a relay process that names no OS account (tests, the demo harness). */
export const IN_PROCESS_ADMIN = 'admin:in-process';

type LoginDevice = ({ kind: 'new' } & NewDeviceRequest) | { kind: 'existing'; deviceId: DeviceId };

/** The one answer to a wrong password or code, whichever it was and whatever the account. */
const wrongCredentials = () => new RelayFailure('INVALID_CREDENTIALS', 'username, password or one-time code is not correct');
const ssoRequired = (providerName: string | undefined) => new RelayFailure('SSO_REQUIRED', `this account signs in with ${providerName ?? 'the hospital\'s identity provider'}: choose that sign-in instead of a password`);

/*
 * Accounts, enrollment and sign-in (HIPAA: unique user identification, person
 * authentication). Passwords, codes and TOTP secrets never appear in errors, logs or audit records.
 */
export class AccountService {
  readonly #throttle: LoginThrottle;
  readonly #passwords: PasswordHasher;
  readonly #checks: SignInChecks;
  readonly #signIns = new KeyedMutex();
  /** Device credentials: who a bearer token is, and whether an open socket may still act. */
  readonly credentials: DeviceCredentials;
  readonly #emergency: EmergencyAccess;
  readonly #adminCommands: AccountAdmin;
  /** Sign-in with the hospital's identity provider, when the config has an `oidc` section. */
  readonly #sso: SingleSignOn | undefined;

  constructor(
    private readonly store: RelayStore,
    private readonly clock: Clock,
    private readonly config: RelayConfig,
    /** Told whenever a sign-in adds or renews a device, so caches of a user's devices are dropped. */
    private readonly onDevicesChanged: (userId: UserId) => void = () => undefined,
    /**
     * Told when a sign-in replaces a device's credential: sockets that authenticated with the old one
     * must be cut off at once (the one that will use `credentialHash` is not open yet).
     */
    private readonly onCredentialReplaced: (address: DeviceAddress, credentialHash: string) => void = () => undefined,
    /**
     * Who the admin commands are done by, as audit records name them: `admin:<os account>` from the CLI
     * (server/cli/adminActor.ts). A relay process that is handed none (tests, the demo harness) records
     * IN_PROCESS_ADMIN.
     */
    private readonly admin: string = IN_PROCESS_ADMIN,
  ) {
    this.#throttle = new LoginThrottle(store, clock, config.throttle);
    this.#adminCommands = new AccountAdmin(store, clock, config, admin);
    this.#passwords = new PasswordHasher(config.argon2);
    this.#checks = new SignInChecks(store, clock, this.#throttle, this.#passwords, config);
    this.credentials = new DeviceCredentials(store, clock, config.oidc?.reauthenticateAfterDays);
    this.#emergency = new EmergencyAccess(store, clock, config, this.#checks, this.#throttle, this.#signIns, (...session) => this.#session(...session));
    const oidc = config.oidc;
    // The client secret is read from its file here, once (a ConfigurationError names the file): never logged.
    this.#sso = oidc && new SingleSignOn(store, clock, oidc, new OidcRelyingParty({ config: oidc, clock, ...(oidc.clientSecretFile ? { clientSecret: readOidcClientSecret(oidc.clientSecretFile) } : {}) }), this.#checks, this.#signIns, {
      session: (...session) => this.#session(...session),
      renewCredential: (...renewal) => this.#renewCredential(...renewal),
    }, store.sharedRateLimiter?.() ?? new InMemoryRateLimiter());
  }

  // --- Admin commands --------------------------------------------------------------------------------

  /**
   * Creates an account (no self-registration) and returns its one-time enrollment code; for an account still
   * to enroll, a new code (AccountAdmin.ts).
   */
  addUser(username: string, displayName: string, role: Role, fields: DirectoryFieldsPatch = {}): Promise<{ userId: UserId; enrollmentCode: string; expiresAt: number }> {
    return this.#adminCommands.addUser(username, displayName, role, fields);
  }

  requireUser(username: string): Promise<UserRecord> {
    return this.#adminCommands.requireUser(username);
  }

  deactivate(username: string, actor = this.admin, reason = 'admin'): Promise<void> {
    return this.#adminCommands.deactivate(username, actor, reason);
  }

  /**
   * Lifts a lockout, the hard stop included, and every workstation's own (it does not reactivate a
   * deactivated account: that is `reactivate`).
   */
  async unlock(username: string): Promise<void> {
    const user = await this.requireUser(username);
    await this.#throttle.clear(accountScope(user.id));
    for (const device of await this.store.devices(user.id)) await this.#throttle.clear(deviceScope(user.id, device.deviceId));
    await this.store.updateUser(user.id, { lockedUntil: null }, [{ type: 'account.unlocked', actor: this.admin, subject: user.id, details: {} }]);
  }

  reactivate(username: string): Promise<void> {
    return this.#adminCommands.reactivate(username);
  }

  ssoOnly(username: string): Promise<void> {
    return this.#adminCommands.ssoOnly(username);
  }

  /** An emergency sign-in for a clinician who is locked out or lost a device: time-limited, flagged. */
  async issueEmergency(username: string, reason: string): Promise<{ code: string; expiresAt: number }> {
    return this.#emergency.issue(await this.requireUser(username), reason, this.admin);
  }

  revokeDevice(username: string, deviceId: DeviceId): Promise<void> {
    return this.#adminCommands.revokeDevice(username, deviceId);
  }

  deactivateInactive(): Promise<string[]> {
    return this.#adminCommands.deactivateInactive();
  }

  // --- Enrollment and login --------------------------------------------------------------------------

  /**
   * The enrollment code (80 random bits, so guessing it is futile): a wrong one counts against the
   * address; from an address that must wait it is answered as usual, uncounted (audited once per episode
   * of the address), and a valid one is used at once, so nobody on the same ward network can block an
   * enrollment.
   */
  async beginEnrollment(username: string, code: string, caller: Caller) {
    await this.#checks.assertRoomForUnprovenSignIn();
    const now = this.clock.now();
    const actor = `anonymous@${caller.address}`;
    const address = addressScope(caller.address);
    const owner = await this.store.enrollmentCodeOwner(codeHash(code), now);
    const user = owner ? await this.store.userById(owner) : undefined;
    if (!user || user.username !== username || user.status !== 'pending') {
      // Wrong codes from one address run one at a time, so the throttle sees each before the next is answered.
      return this.#signIns.run([address], () => this.#checks.countedWhenStoreFull([address], async () => {
        const invalid = new RelayFailure('INVALID_CODE', 'this enrollment code is not valid for this username (it may have expired or been used)');
        if (await this.#checks.mustWait(address)) return this.#checks.refuseFromWaitingAddress(caller.address, invalid);
        await this.store.recordLoginFailure([address], this.clock.now(), [{ type: 'login.failure', actor, subject: user?.id ?? '', details: { step: 'enrollment', username } }]);
        throw invalid;
      }));
    }
    return this.#checks.countedWhenStoreFull([address], async () => {
      const secret = newTotpSecret();
      const enrollmentId = randomUUID();
      const expiresAt = now + 30 * 60_000;
      await this.store.createPendingEnrollment({ id: enrollmentId, userId: user.id, codeHash: codeHash(code), totpSecret: secret, expiresAt });
      return { enrollmentId, displayName: user.displayName, totpSecret: secret, totpUri: totpUri(secret, user.username), expiresAt };
    });
  }

  /**
   * Attempts for one account's enrollment run one at a time (so a burst of them costs one password hash,
   * not one each). Everything cheap is checked before the password is hashed: the enrollment, the
   * password policy, the TOTP code, the device's keys; a busy hasher sheds the attempt with THROTTLED
   * rather than queueing it. A wrong code counts against the address and the enrollment's own counter (from
   * an address that must wait, as a sign-in's: checked within a budget, uncounted); the right code meets
   * only the latter, which also counts incomplete device keys, so nobody can make the relay hash
   * passwords over and over with one enrollment.
   */
  async completeEnrollment(enrollmentId: string, password: string, totpCode: string, device: NewDeviceRequest, caller: Caller): Promise<SessionResponse> {
    await this.#checks.assertRoomForUnprovenSignIn();
    const pending = await this.store.pendingEnrollment(enrollmentId);
    return this.#signIns.run([`enrollment:${pending?.userId ?? enrollmentId}`], () => this.#completeEnrollment(enrollmentId, password, totpCode, device, caller));
  }

  async #completeEnrollment(enrollmentId: string, password: string, totpCode: string, device: NewDeviceRequest, caller: Caller): Promise<SessionResponse> {
    const now = this.clock.now();
    const actor = `anonymous@${caller.address}`;
    const pending = await this.store.pendingEnrollment(enrollmentId);
    const user = pending && pending.expiresAt >= now ? await this.store.userById(pending.userId) : undefined;
    if (!pending || !user || user.status !== 'pending') {
      // Not a live enrollment (an unguessable id): a wrong code, which the address slows.
      await this.#checks.notThrottled([addressScope(caller.address)], actor, '');
      throw new RelayFailure('INVALID_CODE', pending && pending.expiresAt >= now ? 'this account is already enrolled' : 'this enrollment has expired; start again with the enrollment code');
    }
    const problems = await checkPasswordPolicy(password, [user.username, user.displayName]);
    if (problems.length > 0) throw new RelayFailure('PASSWORD_POLICY', 'the password does not meet the policy', { issues: problems });
    const scope = enrollmentScope(user.id);
    const address = addressScope(caller.address);
    const step = totpStep(pending.totpSecret, totpCode, now);
    const wait = await this.#checks.mustWait(address);
    if (wait) await this.#checks.admitFromWaitingAddress(caller.address, wait, [scope], `enrollment|${scope}`);
    else await this.#checks.notThrottled([scope], actor, user.id);
    return this.#checks.countedWhenStoreFull(step === null && !wait ? [scope, address] : [scope], async () => {
      if (step === null) {
        const invalid = new RelayFailure('INVALID_CREDENTIALS', 'the one-time code from the authenticator app is not correct');
        if (wait) return this.#checks.refuseFromWaitingAddress(caller.address, invalid);
        await this.store.recordLoginFailure([scope, address], now, [{ type: 'login.failure', actor, subject: user.id, details: { step: 'enrollment-totp' } }]);
        throw invalid;
      }
      if (!hasNewDeviceKeys(device.keys)) {
        await this.store.recordLoginFailure([scope], now, [{ type: 'login.failure', actor, subject: user.id, details: { step: 'enrollment', reason: 'device keys incomplete' } }]);
        throw incompleteKeys();
      }
      const passwordHash = await this.#passwords.hash(password);
      const issued = newDevice(user.id, device, null);
      const deviceId = await this.store.completeEnrollment(pending, passwordHash, issued.device, now, [
        { type: 'account.enrolled', actor, subject: user.id, details: {} },
        { type: 'device.enrolled', actor, subject: user.id, details: { name: device.name, auditKey: device.auditKey ?? null } },
      ]);
      await this.store.updateUser(user.id, { totpLastStep: step }, []);
      await this.#throttle.clear(scope);
      return this.#session({ ...user, status: 'active' }, deviceId, issued.credential(), null);
    });
  }

  /**
   * Password + TOTP, for a new device or to sign an existing device in again. An attempt that carries
   * the current credential of the enrolled workstation it names (`caller.credential`) is that
   * workstation's own: it is throttled on that workstation's counter only, so strangers' guesses can
   * neither slow nor lock a clinician out of her enrolled workstations; an account's workstations sign in
   * one at a time, so however many she has, they hold at most one place at the front of the hashing line.
   * Every other attempt is throttled on the account (or the unknown username), and a wrong code counts
   * against the address too (see #login); below the free-disk reserve none is checked. Attempts on the
   * same counters run one at a time, so the throttle sees every earlier outcome before the next guess is
   * checked.
   */
  async login(username: string, password: string, totpCode: string, device: LoginDevice, caller: Caller): Promise<SessionResponse> {
    if (device.kind === 'new' && !hasNewDeviceKeys(device.keys)) throw incompleteKeys();
    const known = await this.store.userByUsername(username);
    const proven = known && device.kind === 'existing' ? await this.#provenDevice(known.id, device.deviceId, caller) : undefined;
    // An SSO account has no password here (or no longer uses it). Said at once to one of its own workstations;
    // anyone else gets the answer every wrong sign-in gets, unless they prove its old password and code (#login),
    // so the password path does not tell a stranger which usernames exist and sign in with the provider.
    if (known?.sso && proven) throw ssoRequired(this.config.oidc?.providerName);
    if (known && proven && caller.credential) {
      const credentialHash = sha256Hex(caller.credential);
      return this.#signIns.run([`workstations:${known.id}`], () => this.#loginAtWorkstation(known.id, proven, credentialHash, password, totpCode));
    }
    await this.#checks.assertRoomForUnprovenSignIn();
    const scope = known ? accountScope(known.id) : usernameScope(username);
    // Only attempts with a wrong code wait for the address: a clinician with her code is not queued behind a
    // stranger's guesses from the same address. (Checked again in turn: the code may be used meanwhile.)
    const keys = this.#checks.codeStep(known, totpCode) === null ? [addressScope(caller.address), scope] : [scope];
    return this.#signIns.run(keys, () => this.#login(username, password, totpCode, device, caller));
  }

  /** The device id when the caller presented that device's current, valid credential. */
  async #provenDevice(userId: UserId, deviceId: DeviceId, caller: Caller): Promise<DeviceId | undefined> {
    if (!caller.credential) return undefined;
    const named = credentialDevice(caller.credential);
    if (named?.userId !== userId || named.deviceId !== deviceId) return undefined;
    try {
      await this.credentials.authenticate(caller.credential, caller);
      return deviceId;
    } catch {
      return undefined; // refused (and audited): the attempt proves nothing and is treated as a stranger's
    }
  }

  /** Sign-in at an enrolled workstation that proved itself with its credential. */
  async #loginAtWorkstation(userId: UserId, deviceId: DeviceId, credentialHash: string, password: string, totpCode: string): Promise<SessionResponse> {
    const actor = `${userId}.${deviceId}`;
    const user = await this.store.userById(userId);
    const existing = await this.store.device(userId, deviceId);
    if (!user || !existing || existing.revokedAt !== null) throw new RelayFailure('UNKNOWN_DEVICE', 'this device was revoked; sign in as a new device');
    // Checked again in turn: a concurrent sign-in of this workstation may have replaced the credential.
    if (!sameHash(existing.credentialHash, credentialHash)) throw new RelayFailure('UNAUTHENTICATED', 'this device credential was replaced by another sign-in');
    const scope = deviceScope(userId, deviceId);
    await this.#checks.notThrottled([scope], actor, userId);
    return this.#checks.countedWhenStoreFull([scope], async () => {
      const factors = await this.#checks.checkFactors(user, password, totpCode, { urgent: true });
      if (!factors.ok || !(await this.store.claimTotpStep(userId, factors.step))) {
        await this.#checks.deviceFailure(userId, deviceId, factors.ok ? 'one-time code' : factors.factor);
        throw wrongCredentials();
      }
      // Password and code are proven: the account's state may be told.
      if (user.status !== 'active') {
        await this.store.appendAudit([{ type: 'login.failure', actor, subject: userId, details: { reason: 'account deactivated' } }]);
        throw new RelayFailure('ACCOUNT_INACTIVE', 'this account is deactivated; ask your administrator');
      }
      if (await this.#checks.deviceStopped(userId, deviceId)) {
        await this.store.appendAudit([{ type: 'login.failure', actor, subject: userId, details: { reason: 'workstation locked' } }]);
        throw new RelayFailure('ACCOUNT_LOCKED', 'sign-in at this workstation is locked after too many failed attempts; ask your administrator');
      }
      await this.#checks.succeeded(user, deviceId, actor);
      return this.#renewCredential(user, deviceId, existing.expiresAt, actor);
    });
  }

  /**
   * Sign-in that proves no enrolled workstation: a new one, or an existing one without its credential.
   * While the account (or unknown username) must wait, nothing is checked or counted. From an address free
   * to try, a wrong code (an HMAC, checked first) counts against the account and the address; a valid,
   * unused one goes on to the password, whose failure counts against the account only. From an address
   * that must wait, nothing is counted: the code is checked only within the account's small budget of
   * such checks (else THROTTLED, whatever the code), a wrong one hears the usual verdict and a valid one
   * goes on as from anywhere, so a stranger sharing the address cannot block a clinician who has her code,
   * and cannot try codes for free, pause accounts or fill the store either (SignInChecks).
   */
  async #login(username: string, password: string, totpCode: string, device: LoginDevice, caller: Caller): Promise<SessionResponse> {
    const now = this.clock.now();
    const user = await this.store.userByUsername(username);
    const actor = `anonymous@${caller.address}`;
    const subject = user?.id ?? '';
    const scope = user ? accountScope(user.id) : usernameScope(username);
    const address = addressScope(caller.address);
    // Unknown, pending, locked and deactivated accounts all get the same checks and the same answer;
    // the state is told only to someone who has just proven password and code.
    const step = this.#checks.codeStep(user, totpCode);
    const wait = await this.#checks.mustWait(address);
    if (wait) await this.#checks.admitFromWaitingAddress(caller.address, wait, [scope], `sign-in|${scope}`);
    else await this.#checks.notThrottled([scope], actor, subject);
    return this.#checks.countedWhenStoreFull(step === null && !wait ? [scope, address] : [scope], async () => {
      if (step === null) {
        if (wait) return this.#checks.refuseFromWaitingAddress(caller.address, wrongCredentials());
        await this.#checks.unprovenFailure(user, username, caller.address, 'one-time code', true);
        throw wrongCredentials();
      }
      const passwordOk = await this.#checks.passwordMatches(user, password);
      if (!user || !passwordOk || !(await this.store.claimTotpStep(user.id, step))) {
        await this.#checks.unprovenFailure(user, username, caller.address, passwordOk ? 'one-time code' : 'password', false);
        throw wrongCredentials();
      }
      if (user.status === 'deactivated') {
        await this.store.appendAudit([{ type: 'login.failure', actor, subject: user.id, details: { reason: 'account deactivated' } }]);
        throw new RelayFailure('ACCOUNT_INACTIVE', 'this account is deactivated; ask your administrator');
      }
      if (user.lockedUntil !== null && user.lockedUntil > now) {
        await this.store.appendAudit([{ type: 'login.failure', actor, subject: user.id, details: { reason: 'account locked' } }]);
        throw new RelayFailure('ACCOUNT_LOCKED', 'this account is locked after too many failed sign-ins; sign in at one of your enrolled workstations, wait, or ask your administrator');
      }
      if (user.sso) {
        await this.store.appendAudit([{ type: 'login.failure', actor, subject: user.id, details: { reason: 'single sign-on account' } }]);
        throw ssoRequired(this.config.oidc?.providerName);
      }
      await this.#checks.succeeded(user, null, actor);
      if (device.kind === 'existing') {
        const existing = await this.store.device(user.id, device.deviceId);
        if (!existing || existing.revokedAt !== null) throw new RelayFailure('UNKNOWN_DEVICE', 'this device was revoked; sign in as a new device');
        return this.#renewCredential(user, device.deviceId, existing.expiresAt, `${user.id}.${device.deviceId}`);
      }
      const issued = newDevice(user.id, device, null);
      const deviceId = await this.store.addDevice(user.id, issued.device, now, [
        { type: 'login.success', actor, subject: user.id, details: { newDevice: true } },
        { type: 'device.enrolled', actor, subject: user.id, details: { name: device.name, auditKey: device.auditKey ?? null } },
      ]);
      return this.#session(user, deviceId, issued.credential(), null);
    });
  }

  /** A new credential for an existing device; sockets still using the old one are cut off at once. */
  async #renewCredential(user: UserRecord, deviceId: DeviceId, expiresAt: number | null, actor: string, method?: 'sso'): Promise<SessionResponse> {
    const credential = newCredential({ userId: user.id, deviceId });
    const credentialHash = sha256Hex(credential);
    await this.store.replaceCredential(user.id, deviceId, credentialHash, [
      { type: 'login.success', actor, subject: user.id, details: { device: deviceId, ...(method ? { method } : {}) } },
    ]);
    this.credentials.forget(user.id);
    this.onCredentialReplaced({ userId: user.id, deviceId }, credentialHash);
    return this.#session(user, deviceId, credential, expiresAt);
  }

  /** Signs in a new workstation with an emergency code (EmergencyAccess). */
  emergencyLogin(username: string, code: string, device: NewDeviceRequest, caller: Caller): Promise<SessionResponse> {
    return this.#emergency.login(username, code, device, caller);
  }

  /** Whether this relay offers single sign-on, and the provider's name for the app's button. NOT_FOUND when not configured. */
  ssoProvider(): SsoProviderResponse {
    this.#singleSignOn();
    return { providerName: this.config.oidc?.providerName ?? 'your hospital sign-in' };
  }

  /** Single sign-on, step 1: where to send the user's browser (SingleSignOn.begin). NOT_FOUND when not configured. */
  ssoBegin(request: SsoBeginRequest, caller: Caller): Promise<SsoBeginResponse> {
    return this.#singleSignOn().begin(request, caller);
  }

  /** Single sign-on, step 2: the code back from the browser; a session for a new or existing workstation. */
  ssoComplete(request: SsoCompleteRequest, caller: Caller): Promise<SessionResponse> {
    return this.#singleSignOn().complete(request, caller);
  }

  #singleSignOn(): SingleSignOn {
    if (!this.#sso) throw new RelayFailure('NOT_FOUND', 'this relay has no single sign-on (no oidc section in its config file)');
    return this.#sso;
  }

  #session(user: UserRecord, deviceId: DeviceId, credential: string, expiresAt: number | null): Promise<SessionResponse> {
    return sessionResponse(this.store, this.onDevicesChanged, user, deviceId, credential, expiresAt);
  }
}
