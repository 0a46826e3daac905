import { randomUUID } from 'node:crypto';
import type { SessionResponse } from '../../shared/wire/relay';
import type { Clock } from '../Clock';
import type { RelayConfig } from '../RelayConfig';
import { RelayFailure } from '../RelayFailure';
import type { RelayStore, UserRecord } from '../storage/RelayStore';
import type { Caller } from './DeviceCredentials';
import type { KeyedMutex } from './KeyedMutex';
import { accountScope, emergencyScope, type LoginThrottle } from './LoginThrottle';
import { assertNewDeviceKeys, newDevice, type NewDeviceRequest } from './NewDevices';
import { RepeatCounter } from './RepeatCounter';
import { codeHash, newOneTimeCode, sameHash } from './secrets';
import type { SignInChecks } from './SignInChecks';

/** A run of wrong emergency codes for one account (or for unknown usernames) ends after this long without one. */
const EMERGENCY_GUESSES_QUIET_MS = 3600_000;

const invalidEmergencyCode = () => new RelayFailure('INVALID_CODE', 'this emergency code is not valid (it may have expired or been used)');

/**
 * Emergency access ("break glass"): an administrator issues a time-limited code for a clinician who is
 * locked out or lost her workstation; using it adds a workstation that expires with the grant, lifts a
 * lockout, and is flagged in the audit log.
 */
export class EmergencyAccess {
  readonly #guesses = new RepeatCounter(EMERGENCY_GUESSES_QUIET_MS);

  constructor(
    private readonly store: RelayStore,
    private readonly clock: Clock,
    private readonly config: RelayConfig,
    private readonly checks: SignInChecks,
    private readonly throttle: LoginThrottle,
    /** The account service's: attempts on the same counters run one at a time. */
    private readonly signIns: KeyedMutex,
    private readonly session: (user: UserRecord, deviceId: SessionResponse['deviceId'], credential: string, expiresAt: number | null) => Promise<SessionResponse>,
  ) {}

  /**
   * A new code for `user` (who must be active), issued by `admin` (`admin:<os account>`, the audit record's
   * actor); `reason` (3-300 characters, no patient details) is audited, flagged.
   */
  async issue(user: UserRecord, reason: string, admin: string): Promise<{ code: string; expiresAt: number }> {
    const trimmed = reason.trim();
    if (trimmed.length < 3) throw new RelayFailure('BAD_REQUEST', 'a reason is required for emergency access');
    if (trimmed.length > 300) throw new RelayFailure('BAD_REQUEST', 'keep the reason under 300 characters (no patient details: it is kept in the audit log)');
    if (user.status !== 'active') throw new RelayFailure('ACCOUNT_INACTIVE', `user ${user.username} is not active`);
    const now = this.clock.now();
    const code = newOneTimeCode();
    const expiresAt = now + this.config.emergencyGrantMs;
    await this.store.createEmergencyGrant(
      { id: randomUUID(), userId: user.id, codeHash: codeHash(code), reason: trimmed, issuedAt: now, expiresAt, usedAt: null },
      [{ type: 'emergency.issued', actor: admin, subject: user.id, details: { reason: trimmed, expiresAt }, flagged: true }],
    );
    return { code, expiresAt };
  }

  /**
   * The emergency code (80 random bits): a valid one is used at once (the store takes it once, even from
   * concurrent attempts); wrong ones count against the address's emergency counter, and are audited per
   * account (unknown usernames together) and episode: the first flagged, then the 10th, 100th... with the
   * count, so a flood of guesses cannot fill the log with flags. From an address that must wait, a code is
   * still checked (guessing 80 bits is futile), a wrong one answered as usual, uncounted (audited once
   * per episode of the address), so the code an administrator handed over works whoever shares the
   * address: break-glass access cannot be blocked from the ward's network.
   */
  async login(username: string, code: string, device: NewDeviceRequest, caller: Caller): Promise<SessionResponse> {
    assertNewDeviceKeys(device.keys);
    await this.checks.assertRoomForUnprovenSignIn();
    const now = this.clock.now();
    const scope = emergencyScope(caller.address);
    const user = await this.store.userByUsername(username);
    const grant = user?.status === 'active' ? (await this.store.emergencyGrants(user.id, now)).find((g) => sameHash(g.codeHash, codeHash(code))) : undefined;
    const wait = await this.checks.mustWait(scope);
    if (!user || !grant) {
      if (wait) return this.checks.countedWhenStoreFull([scope], () => this.checks.refuseFromWaitingAddress(caller.address, invalidEmergencyCode()));
      return this.signIns.run([scope], () => this.#refuse(username, user, caller));
    }
    return this.checks.countedWhenStoreFull([scope], async () => {
      const issued = newDevice(user.id, device, grant.expiresAt);
      const deviceId = await this.store.useEmergencyGrant(grant.id, issued.device, now, [
        { type: 'emergency.used', actor: `anonymous@${caller.address}`, subject: user.id, details: { reason: grant.reason, expiresAt: grant.expiresAt, ...(device.auditKey ? { auditKey: device.auditKey } : {}) }, flagged: true },
      ]);
      // An emergency sign-in also lifts a lockout: that is what it is for.
      await this.store.updateUser(user.id, { lockedUntil: null, lastActiveAt: now }, []);
      await this.throttle.clear(accountScope(user.id));
      return this.session(user, deviceId, issued.credential(), grant.expiresAt);
    });
  }

  async #refuse(username: string, user: UserRecord | undefined, caller: Caller): Promise<never> {
    const now = this.clock.now();
    const actor = `anonymous@${caller.address}`;
    const subject = user?.id ?? '';
    const scope = emergencyScope(caller.address);
    await this.checks.notThrottled([scope], actor, subject);
    return this.checks.countedWhenStoreFull([scope], async () => {
      const { count, audit } = this.#guesses.note(subject, now);
      await this.store.recordLoginFailure([scope], now, audit
        ? [{ type: 'login.failure', actor, subject, details: { reason: 'emergency code', username, count }, ...(count === 1 ? { flagged: true } : {}) }]
        : []);
      throw invalidEmergencyCode();
    });
  }
}
