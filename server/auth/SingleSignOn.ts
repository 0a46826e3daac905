import type { DeviceId } from '../../shared/ids';
import type { SessionResponse } from '../../shared/wire/relay';
import type { SsoBeginRequest, SsoBeginResponse, SsoCompleteRequest } from '../../shared/wire/sso';
import type { Clock } from '../Clock';
import { ProvisioningRefused } from '../directory/provisioning';
import { RelayFailure } from '../RelayFailure';
import type { RelayStore, UserRecord } from '../storage/RelayStore';
import type { Caller } from './DeviceCredentials';
import type { KeyedMutex } from './KeyedMutex';
import { addressScope, addressUnit } from './LoginThrottle';
import type { RateLimit, RateLimiter } from '../RateLimiter';
import { hasNewDeviceKeys, incompleteKeys, newDevice } from './NewDevices';
import type { OidcConfig } from './oidc/OidcConfig';
import { DEFAULT_PENDING_TTL_MS, type OidcRelyingParty } from './oidc/OidcRelyingParty';
import { OidcSignInError } from './oidc/OidcSignInError';
import type { VerifiedIdentity } from './oidc/VerifiedIdentity';
import { RepeatCounter } from './RepeatCounter';
import type { SignInChecks } from './SignInChecks';

/** A run of refused single sign-ons from one address ends after this long without another. */
const REFUSALS_QUIET_MS = 3600_000;
/**
 * Sign-ins one address may begin (each is a stored row for 10 minutes): a ward's shift change behind one NAT
 * address fits, a flood from one machine does not.
 */
const BEGINS_PER_ADDRESS: RateLimit = { amount: 120, windowMs: 60_000 };

/** What the account service lends single sign-on: a session for a new device, a renewed credential for an existing one. */
export interface SsoSessions {
  session(user: UserRecord, deviceId: DeviceId, credential: string, expiresAt: number | null): Promise<SessionResponse>;
  renewCredential(user: UserRecord, deviceId: DeviceId, expiresAt: number | null, actor: string, method: 'sso'): Promise<SessionResponse>;
}

/**
 * Enrollment and new workstations through the hospital's identity provider (OpenID Connect, issue 18). The relay
 * begins the sign-in (keeping state and nonce in the store, so any instance can complete it) and completes it
 * with the code and PKCE verifier the app brings back; the identity is then matched to its account: the one
 * linked to it, else the one with its username (linked now), else a new one when the policy creates accounts.
 * The provider did the person authentication (with MFA when `requireMfa`), so Rounds asks for no password or
 * TOTP here; the local passphrase still protects the profile. Codes, verifiers and tokens are never logged.
 */
export class SingleSignOn {
  readonly #refusals = new RepeatCounter(REFUSALS_QUIET_MS);
  #prunedAt = 0;

  constructor(
    private readonly store: RelayStore,
    private readonly clock: Clock,
    private readonly config: OidcConfig,
    private readonly provider: OidcRelyingParty,
    private readonly checks: SignInChecks,
    /** The account service's: sign-ins of one identity run one at a time. */
    private readonly signIns: KeyedMutex,
    private readonly sessions: SsoSessions,
    /** Where begun sign-ins are counted per address (shared by the instances of a PostgreSQL store). */
    private readonly limiter: RateLimiter,
  ) {}

  /**
   * The authorization URL for the app to open. Costs the relay one stored row (10 minutes at most), so it is
   * refused below the free-disk reserve and past the address's allowance of begun sign-ins. The address's
   * sign-in throttle is not consulted: single sign-on guesses nothing at the relay (the provider authenticates
   * the person), and a stranger's wrong passwords from the ward's shared address must not block it.
   */
  async begin(request: SsoBeginRequest, caller: Caller): Promise<SsoBeginResponse> {
    await this.checks.assertRoomForUnprovenSignIn();
    await this.#limitBegins(caller);
    const { authorizationUrl, pending } = await relayed(this.provider.begin(request));
    await this.store.createPendingSso(pending, pending.createdAt + DEFAULT_PENDING_TTL_MS);
    return { authorizationUrl, state: pending.state };
  }

  async #limitBegins(caller: Caller): Promise<void> {
    const now = this.clock.now();
    if (now - this.#prunedAt > BEGINS_PER_ADDRESS.windowMs) {
      this.#prunedAt = now;
      await this.limiter.prune(now);
    }
    const decision = await this.limiter.take([{ key: `sso-begin:${addressUnit(caller.address)}`, cost: 1, limit: BEGINS_PER_ADDRESS }], now);
    if (!decision.ok) {
      throw new RelayFailure('THROTTLED', 'too many sign-ins begun from this address; wait before starting another', { retryAfterSeconds: Math.ceil(decision.retryAfterMs / 1000), retryAfterMs: decision.retryAfterMs });
    }
  }

  /**
   * Takes the begun sign-in (single use: a replayed state finds nothing), has the provider exchange the code
   * and the ID token checked (OidcRelyingParty.complete), then signs the identity's account in.
   */
  async complete(request: SsoCompleteRequest, caller: Caller): Promise<SessionResponse> {
    if (request.device.kind === 'new' && !hasNewDeviceKeys(request.device.keys)) throw incompleteKeys();
    await this.checks.assertRoomForUnprovenSignIn();
    const actor = `anonymous@${caller.address}`;
    let identity: VerifiedIdentity | undefined;
    try {
      // An unknown state costs one indexed DELETE; a known one was begun within the address's allowance.
      const pending = await this.store.takePendingSso(request.state, this.clock.now());
      if (!pending) throw new OidcSignInError('OIDC_SIGN_IN_EXPIRED', 'this sign-in is unknown to the relay: it was completed already, expired or never begun; start again');
      identity = await this.provider.complete(pending, { code: request.code, state: request.state, codeVerifier: request.codeVerifier, ...(request.iss !== undefined ? { iss: request.iss } : {}) });
      const verified = identity;
      return await this.signIns.run([`sso:${verified.issuer} ${verified.subject}`], () => this.#signIn(verified, request.device, actor));
    } catch (error) {
      const failure = error instanceof OidcSignInError ? new RelayFailure(error.code, error.message) : error;
      if (failure instanceof RelayFailure) await this.#audited(failure, caller, identity?.username);
      throw failure;
    }
  }

  async #signIn(identity: VerifiedIdentity, device: SsoCompleteRequest['device'], actor: string): Promise<SessionResponse> {
    const now = this.clock.now();
    const user = await this.#account(identity, now);
    // A workstation that signs in again must still be one of this account's (checked before anything is recorded).
    const existing = device.kind === 'existing' ? await this.store.device(user.id, device.deviceId) : undefined;
    if (device.kind === 'existing' && (!existing || existing.revokedAt !== null)) throw new RelayFailure('UNKNOWN_DEVICE', 'this device was revoked; sign in as a new device');
    const link = { issuer: identity.issuer, subject: identity.subject, signedInAt: now };
    const details = { method: 'sso', issuer: identity.issuer, ...(identity.amr.length ? { amr: identity.amr.join(' ') } : {}), ...(identity.acr ? { acr: identity.acr } : {}) };
    const outcome = await this.store.recordSsoSignIn(user.id, link, [], [{ type: 'account.enrolled', actor, subject: user.id, details }]);
    if (outcome === 'refused') {
      const current = await this.store.userById(user.id);
      if (current?.status === 'deactivated') throw inactive();
      throw new RelayFailure('ACCOUNT_NOT_PROVISIONED', `the account ${user.username} is linked to another identity at ${this.config.providerName}; ask your administrator`);
    }
    const signedIn: UserRecord = { ...user, status: 'active', sso: link, lastActiveAt: now };
    await this.checks.succeeded(signedIn, null, actor, 'sso');
    if (device.kind === 'existing') return this.sessions.renewCredential(signedIn, device.deviceId, existing?.expiresAt ?? null, `${user.id}.${device.deviceId}`, 'sso');
    const issued = newDevice(user.id, device, null);
    const deviceId = await this.store.addDevice(user.id, issued.device, now, [
      { type: 'login.success', actor, subject: user.id, details: { newDevice: true, ...details } },
      { type: 'device.enrolled', actor, subject: user.id, details: { name: device.name, auditKey: device.auditKey ?? null, method: 'sso' } },
    ]);
    return this.sessions.session(signedIn, deviceId, issued.credential(), null);
  }

  /**
   * The identity's account: the one linked to it; else the one with its username (an account made by hand, or
   * by this provider, takes the provider's name and department; one from SCIM or LDAP keeps its source's);
   * else, when the policy says so, a new pending clinician. A deactivated one is refused.
   */
  async #account(identity: VerifiedIdentity, now: number): Promise<UserRecord> {
    const linked = await this.store.userBySsoSubject(identity.issuer, identity.subject);
    const found = linked ?? (await this.store.userByUsername(identity.username));
    if (found?.status === 'deactivated') throw inactive();
    // Found by username alone, an account is linked to this identity only if nothing else protects it yet: a
    // clinician's account that has never had a password (pending, or provisioned). Otherwise whoever can set a
    // username at the provider (or rename an account over SCIM) would take over an enrolled colleague's account,
    // or the relay's own admin and compliance accounts.
    if (found && !linked) {
      if (found.role !== 'clinician') {
        throw new RelayFailure('ACCOUNT_NOT_PROVISIONED', `${identity.username} is an ${found.role} account: it signs in with its password and authenticator, not with ${this.config.providerName}`);
      }
      if (found.passwordHash !== null) {
        throw new RelayFailure('ACCOUNT_NOT_PROVISIONED', `the account ${identity.username} signs in with its password and authenticator; to move it to ${this.config.providerName}, ask your administrator (rounds-server user sso-only ${identity.username})`);
      }
    }
    if (!found && !this.config.createAccounts) {
      throw new RelayFailure('ACCOUNT_NOT_PROVISIONED', `${identity.username} has no Rounds account yet: ask your administrator to create it (this relay does not create accounts at sign-in)`);
    }
    if (found && found.source !== 'admin' && found.source !== 'oidc') return found;
    try {
      const { userId } = await this.store.provisionPerson({
        externalId: identity.subject, username: identity.username, displayName: identity.displayName,
        department: identity.department ?? found?.department ?? null, jobTitle: found?.jobTitle ?? null, contact: found?.contact ?? null, active: true,
      }, { kind: 'oidc', issuer: identity.issuer }, now);
      const user = await this.store.userById(userId);
      if (!user) throw new RelayFailure('ACCOUNT_NOT_PROVISIONED', `${identity.username} has no Rounds account`);
      if (user.status === 'deactivated') throw inactive();
      return user;
    } catch (error) {
      if (error instanceof ProvisioningRefused) {
        throw new RelayFailure('ACCOUNT_NOT_PROVISIONED', error.reason === 'usernameTaken'
          ? `the username ${identity.username} belongs to another Rounds account; ask your administrator`
          : `what ${this.config.providerName} says of ${identity.username} cannot make a Rounds account (${error.message}); ask your administrator`);
      }
      throw error;
    }
  }

  /**
   * A refused sign-in is audited per address, refusal and person (once the provider named them) and episode:
   * the first, then every tenfold count. The provider's word, the state or the code cannot be guessed here,
   * so nothing is counted against anyone.
   */
  async #audited(failure: RelayFailure, caller: Caller, username: string | undefined): Promise<void> {
    if (failure.code === 'RELAY_STORAGE_FULL' || failure.code === 'RELAY_UNAVAILABLE') return;
    const { count, audit } = this.#refusals.note(`${addressScope(caller.address)}|${failure.code}|${username ?? ''}`, this.clock.now());
    if (audit) {
      await this.store.appendAudit([{ type: 'login.failure', actor: `anonymous@${caller.address}`, subject: '', details: { method: 'sso', reason: failure.code, count, ...(username ? { username } : {}) } }]);
    }
  }
}

const inactive = () => new RelayFailure('ACCOUNT_INACTIVE', 'this account is deactivated; ask your administrator');

/** The relying party's refusals as the relay's own (the codes are the same). */
async function relayed<T>(attempt: Promise<T>): Promise<T> {
  try {
    return await attempt;
  } catch (error) {
    if (error instanceof OidcSignInError) throw new RelayFailure(error.code, error.message);
    throw error;
  }
}
