import { UserIdSchema, type DeviceAddress, type DeviceId, type UserId } from '../../shared/ids';
import type { Clock } from '../Clock';
import { RelayFailure } from '../RelayFailure';
import type { DeviceRecord, RelayStore, UserRecord } from '../storage/RelayStore';
import { AccountMemory } from './AccountMemory';
import { RepeatCounter } from './RepeatCounter';
import { credentialDevice, sameHash, sha256Hex } from './secrets';

/**
 * How long a socket's authorisation is reused between frames. Every change that ends it (a revocation, a
 * deactivation, a credential replaced by a new sign-in) is a control event that every relay instance applies
 * within half a second (forget()), and an emergency sign-in's end is checked here: this is only a bound on
 * memory, not what enforces them. (Re-read for every frame it cost two database reads a message.)
 */
const AUTHORIZATION_TTL_MS = 10 * 60_000;

/** A refused device credential's episode ends after this long without another refusal. */
const REJECTED_CREDENTIAL_QUIET_MS = 3600_000;

const DAY_MS = 24 * 3600_000;
/** OidcConfig's default for reauthenticateAfterDays: SSO accounts are held to it even where the section was removed. */
const DEFAULT_REAUTHENTICATE_AFTER_DAYS = 7;

const reauthenticationRequired = () => new RelayFailure('REAUTHENTICATION_REQUIRED', 'sign in with the hospital\'s identity provider again: this workstation\'s sign-in is older than the relay allows');

/** Who is calling: an anonymous client at a network address, with the device credential it presented, if any. */
export interface Caller {
  readonly address: string;
  /** The bearer credential sent with the request (a secret: compared as a hash, never logged). */
  readonly credential?: string | undefined;
}

/*
 * Device credentials: who a bearer token is (a device credential is 256 random bits of which the relay
 * keeps only the SHA-256; it is a secret, compared as a hash, never logged), and whether an open socket's
 * device may still act (not revoked, not expired, not replaced by a newer sign-in, its account active).
 */
export class DeviceCredentials {
  readonly #store: RelayStore;
  readonly #clock: Clock;
  readonly #authorized = new AccountMemory<true>(100_000);
  readonly #rejected = new RepeatCounter(REJECTED_CREDENTIAL_QUIET_MS);

  /** How long an SSO account's devices work after its last sign-in at the identity provider. */
  readonly #reauthenticateAfterMs: number;

  constructor(store: RelayStore, clock: Clock, reauthenticateAfterDays = DEFAULT_REAUTHENTICATE_AFTER_DAYS) {
    this.#store = store;
    this.#clock = clock;
    this.#reauthenticateAfterMs = reauthenticateAfterDays * DAY_MS;
  }

  /**
   * When the account's devices stop working until it signs in at its identity provider again: SSO accounts
   * only, so one disabled there is cut off within the policy's days even if nothing provisions the change.
   * An emergency sign-in's device has its own, shorter end and is not held to it (the provider may be down).
   */
  #reauthenticationDue(user: UserRecord, device: DeviceRecord): number {
    return user.sso && device.expiresAt === null ? user.sso.signedInAt + this.#reauthenticateAfterMs : Number.MAX_SAFE_INTEGER;
  }

  /**
   * For an open socket, before each frame: the device is still active, not expired, its credential has
   * not been replaced by a newer sign-in, and its account is active. Throws UNAUTHENTICATED otherwise.
   */
  async recheck(address: DeviceAddress, credentialHash: string): Promise<void> {
    const now = this.#clock.now();
    const key = `${address.deviceId}:${credentialHash}`;
    if (this.#authorized.get(address.userId, key, now)) return;
    const generation = this.#authorized.generation(address.userId);
    const device = await this.#store.device(address.userId, address.deviceId);
    if (!device || device.revokedAt !== null || device.credentialHash !== credentialHash || (device.expiresAt !== null && device.expiresAt <= now)) {
      throw new RelayFailure('UNAUTHENTICATED', 'this device credential is no longer valid');
    }
    const user = await this.#store.userById(address.userId);
    if (user?.status !== 'active') throw new RelayFailure('UNAUTHENTICATED', 'this account is not active');
    const due = this.#reauthenticationDue(user, device);
    if (due <= now) throw reauthenticationRequired();
    // Remembered: a socket's frames do not each re-read the same rows. Revocations, deactivations and
    // replaced credentials clear it (forget()); an emergency sign-in's end and re-authentication are still checked here.
    const until = Math.min(now + AUTHORIZATION_TTL_MS, device.expiresAt ?? Number.MAX_SAFE_INTEGER, due);
    this.#authorized.set(address.userId, key, true, until, generation);
  }

  /** Drops what recheck() remembers about a user's devices (after a control event about the account). */
  forget(userId: UserId): void {
    this.#authorized.forget(userId);
  }

  /** Drops everything recheck() remembers (control events may have been missed). */
  forgetAll(): void {
    this.#authorized.forgetAll();
  }

  /**
   * Checks a bearer credential; returns the device it belongs to or throws UNAUTHENTICATED. A credential naming a device the relay knows, but refused (revoked, replaced, expired, or a wrong
   * secret), is audited: the first refusal of an episode, then every 10× with the count, so a revoked
   * workstation retrying in a loop cannot flood the log. Credentials naming no device are not (anyone
   * can make those up).
   */
  async authenticate(credential: string | undefined, caller?: Caller): Promise<{ user: UserRecord; device: DeviceRecord; address: DeviceAddress; until: number | null }> {
    const named = credential ? credentialDevice(credential) : undefined;
    if (!credential || !named) throw new RelayFailure('UNAUTHENTICATED', 'a device credential is required');
    const parsed = UserIdSchema.safeParse(named.userId);
    if (!parsed.success) throw new RelayFailure('UNAUTHENTICATED', 'unknown device credential');
    const generation = this.#authorized.generation(parsed.data);
    const device = await this.#store.device(parsed.data, named.deviceId as DeviceId);
    if (!device) throw new RelayFailure('UNAUTHENTICATED', 'unknown device credential');
    const now = this.#clock.now();
    const refuse = async (reason: string, failure: RelayFailure): Promise<never> => {
      const subject = `${device.userId}.${device.deviceId}`;
      const { count, audit } = this.#rejected.note(subject, now);
      if (audit) await this.#store.appendAudit([{ type: 'credential.rejected', actor: caller ? `anonymous@${caller.address}` : 'anonymous', subject, details: { reason, count } }]);
      throw failure;
    };
    if (!sameHash(device.credentialHash, sha256Hex(credential))) return refuse('not the current credential', new RelayFailure('UNAUTHENTICATED', 'unknown device credential'));
    if (device.revokedAt !== null) return refuse('revoked', new RelayFailure('UNAUTHENTICATED', 'this device was revoked'));
    if (device.expiresAt !== null && device.expiresAt <= now) return refuse('emergency sign-in expired', new RelayFailure('UNAUTHENTICATED', 'this emergency sign-in has expired'));
    const user = await this.#store.userById(device.userId);
    if (!user || user.status !== 'active') return refuse('account not active', new RelayFailure('ACCOUNT_INACTIVE', 'this account is not active'));
    const due = this.#reauthenticationDue(user, device);
    if (due <= now) return refuse('re-authentication due', reauthenticationRequired());
    // When a socket this credential opens must end by itself (an emergency sign-in's end, or re-authentication
    // due): one that only receives sends no frame to be checked at.
    const until = Math.min(device.expiresAt ?? Number.MAX_SAFE_INTEGER, due);
    // The socket this opens is checked before its first push: remembered now, that costs no second read.
    this.#authorized.set(device.userId, `${device.deviceId}:${device.credentialHash}`, true, Math.min(now + AUTHORIZATION_TTL_MS, until), generation);
    return { user, device, address: { userId: device.userId, deviceId: device.deviceId }, until: until === Number.MAX_SAFE_INTEGER ? null : until };
  }
}
