import type { DeviceId, UserId } from '../../shared/ids';
import type { AuditEvent } from '../audit/AuditRecord';
import type { Clock } from '../Clock';
import type { RelayStore, UserRecord } from '../storage/RelayStore';
import { RelayFailure } from '../RelayFailure';
import { LOCKED_UNTIL_UNLOCKED, LoginThrottle, accountScope, addressScope, deviceScope, usernameScope } from './LoginThrottle';
import type { PasswordHasher } from './passwords';
import { RepeatCounter } from './RepeatCounter';
import { newTotpSecret, totpStep } from './totp';

/** Which factor a failed attempt got wrong (for the audit log only: callers always hear the same answer). */
export type FailedFactor = 'one-time code' | 'password';

/** The outcome of checking password and code: the TOTP step to claim, or the factor that failed. */
export type FactorCheck = { readonly ok: true; readonly step: number } | { readonly ok: false; readonly factor: FailedFactor };

/**
 * How a failed unproven attempt is charged. `address`: it had a wrong code and its address was free to
 * try, so the address counts it too. `answer`: whether the caller heard a verdict (INVALID_CREDENTIALS,
 * audited one by one) or THROTTLED because its address must wait (counted per episode by login.throttled).
 */
export interface UnprovenCharge {
  readonly address: boolean;
  readonly answer: 'verdict' | 'throttled';
}

/*
 * The checks of one password + TOTP sign-in and the bookkeeping of its failures. Passwords and codes are
 * secrets: they are compared here and never appear in errors, logs or audit records.
 *
 * - Cheapest first: the TOTP code (an HMAC) is checked before the password (Argon2id), so a guess
 *   without a valid code costs no hashing and a flood of them cannot queue work in front of anyone.
 *   Callers always get the same INVALID_CREDENTIALS, whichever factor failed; only someone holding the
 *   account's TOTP secret can tell the two apart by timing, and they learn nothing about the password.
 * - Unknown usernames and not-yet-enrolled accounts run the same checks against a decoy secret (which a
 *   guess matches exactly as often as a real one) and are slowed exactly like accounts, so neither the
 *   answer, its timing, nor THROTTLED tells who exists. Locked and deactivated accounts answer like any
 *   other wrong guess; their state is told only to someone who has just proven password and code.
 * - Failures of sign-ins that do not prove an enrolled workstation slow the whole account, pause such
 *   sign-ins for lockMs after lockAfter failures in the window, and stop them after hardLockAfter in a row
 *   (until `user unlock` or a sign-in at an enrolled workstation). A workstation that proves itself is
 *   slowed on its own counter only (and stops after hardLockAfter in a row too).
 * - The source address slows only attempts with a wrong (or used) code, so a stranger sharing a ward's
 *   address cannot hold up a clinician who has her code. A wrong code refused because its address must
 *   wait still counts against the account it named: else a throttled address could try codes for free,
 *   and the one right code among them would get through.
 * - Audit: every verdict; the start of an episode (lockAfter failures in a row) and its locks flagged,
 *   once each; THROTTLED answers counted per episode instead of recorded one by one.
 */
export class SignInChecks {
  readonly #decoySecret = newTotpSecret();
  readonly #throttledRepeats: RepeatCounter;

  constructor(
    private readonly store: RelayStore,
    private readonly clock: Clock,
    private readonly throttle: LoginThrottle,
    private readonly passwords: PasswordHasher,
  ) {
    this.#throttledRepeats = new RepeatCounter(throttle.policy.windowMs);
  }

  /** Throws THROTTLED if any scope must wait; the first refusal of an episode (then every 10×) is audited. */
  async notThrottled(scopes: readonly string[], actor: string, subject: string): Promise<void> {
    const refusal = await this.throttled(scopes, actor, subject);
    if (refusal) throw refusal;
  }

  /** The THROTTLED failure of the first scope that must wait (audited as notThrottled says), or undefined. */
  async throttled(scopes: readonly string[], actor: string, subject: string): Promise<RelayFailure | undefined> {
    for (const scope of scopes) {
      try {
        await this.throttle.check(scope);
      } catch (error) {
        if (!(error instanceof RelayFailure) || error.code !== 'THROTTLED') throw error;
        const { count, audit } = this.#throttledRepeats.note(scope, this.clock.now());
        if (audit) await this.store.appendAudit([{ type: 'login.throttled', actor, subject, details: { scope: scope.slice(0, scope.indexOf(':')), count } }]);
        return error;
      }
    }
    return undefined;
  }

  /**
   * The TOTP step of a valid code not used yet, or null. An HMAC, no hashing: callers check it before
   * anything else. `user` is undefined for unknown usernames; they, and accounts without a password yet,
   * are checked against the decoy secret, which a guess matches exactly as often as a real one.
   */
  codeStep(user: UserRecord | undefined, totpCode: string): number | null {
    const enrolled = enrolledFactors(user);
    const step = totpStep(enrolled?.totpSecret ?? this.#decoySecret, totpCode, this.clock.now());
    return step === null || (enrolled && step <= enrolled.totpLastStep) ? null : step;
  }

  /**
   * The password (Argon2id; the same work for accounts without one). `urgent`: a proven workstation's
   * attempt, which goes to the front of the hashing line (within the hasher's cap).
   */
  async passwordMatches(user: UserRecord | undefined, password: string, options: { urgent?: boolean } = {}): Promise<boolean> {
    const enrolled = enrolledFactors(user);
    return enrolled ? this.passwords.verify(enrolled.passwordHash, password, options) : this.passwords.verifyNothing(password, options);
  }

  /** The TOTP code first, then the password (see codeStep and passwordMatches). */
  async checkFactors(user: UserRecord | undefined, password: string, totpCode: string, options: { urgent?: boolean } = {}): Promise<FactorCheck> {
    const step = this.codeStep(user, totpCode);
    if (step === null) return { ok: false, factor: 'one-time code' };
    return (await this.passwordMatches(user, password, options)) ? { ok: true, step } : { ok: false, factor: 'password' };
  }

  /**
   * A failed attempt that did not prove an enrolled workstation: counted against the account (or the
   * unknown username), and the address as `charge` says; it may start an episode, pause or stop such
   * sign-ins. Those are audited whatever the caller heard; the failure itself only if it was a verdict.
   */
  async unprovenFailure(user: UserRecord | undefined, username: string, address: string, factor: FailedFactor, charge: UnprovenCharge): Promise<void> {
    const now = this.clock.now();
    const actor = `anonymous@${address}`;
    const { policy } = this.throttle;
    const scope = user ? accountScope(user.id) : usernameScope(username);
    const scopes = charge.address ? [scope, addressScope(address)] : [scope];
    const verdict = charge.answer === 'verdict';
    // The same reads for every kind of account, so the time taken does not tell them apart either.
    const consecutive = (await this.store.loginStreak(scope)) + 1;
    const inWindow = (await this.store.loginFailures(scope, now - policy.windowMs)).length + 1;
    if (!user?.passwordHash) {
      // Unknown usernames have no run (nothing to lock; arbitrary names must not pile up rows forever).
      const details = user ? { reason: 'account not enrolled yet' } : { reason: 'unknown user' };
      await this.store.recordLoginFailure(scopes, now, verdict ? [{ type: 'login.failure', actor, subject: user?.id ?? '', details }] : []);
      return;
    }
    const lockedNow = user.lockedUntil !== null && user.lockedUntil > now;
    const hardStop = consecutive >= policy.hardLockAfter && user.lockedUntil !== LOCKED_UNTIL_UNLOCKED;
    const pause = !hardStop && !lockedNow && inWindow >= policy.lockAfter;
    // The episode's first lock is flagged (lockedUntil is cleared by a success or an unlock, so null means
    // none since); so is the hard stop, and the start of a run of failures that no lock announced.
    const lockFlagged = hardStop || (pause && user.lockedUntil === null);
    const episodeStarts = consecutive === policy.lockAfter && !lockFlagged;
    await this.store.recordLoginFailure(
      scopes,
      now,
      verdict || episodeStarts ? [{ type: 'login.failure', actor, subject: user.id, details: { factor, consecutive, ...(verdict ? {} : { answered: 'THROTTLED' }) }, ...(episodeStarts ? { flagged: true } : {}) }] : [],
      scope,
    );
    if (hardStop || pause) {
      const until = hardStop ? LOCKED_UNTIL_UNLOCKED : this.throttle.lockedUntil(now);
      await this.store.updateUser(user.id, { lockedUntil: until }, [{
        type: 'account.locked', actor: 'system', subject: user.id,
        details: { failures: inWindow, consecutive, until: until === LOCKED_UNTIL_UNLOCKED ? null : until, appliesTo: 'sign-ins without an enrolled workstation' },
        ...(lockFlagged ? { flagged: true } : {}),
      }]);
    }
  }

  /** A failed attempt that proved an enrolled workstation: counted against that workstation only. */
  async deviceFailure(userId: UserId, deviceId: DeviceId, factor: FailedFactor): Promise<void> {
    const { policy } = this.throttle;
    const scope = deviceScope(userId, deviceId);
    const consecutive = (await this.store.loginStreak(scope)) + 1;
    const actor = `${userId}.${deviceId}`;
    const audit: AuditEvent[] = [{ type: 'login.failure', actor, subject: userId, details: { factor, device: deviceId, consecutive }, ...(consecutive === policy.lockAfter ? { flagged: true } : {}) }];
    if (consecutive === policy.hardLockAfter) {
      audit.push({ type: 'account.locked', actor: 'system', subject: actor, details: { device: deviceId, consecutive, until: null, appliesTo: 'sign-ins at this workstation' }, flagged: true });
    }
    await this.store.recordLoginFailure([scope], this.clock.now(), audit, scope);
  }

  /** True once the workstation has had hardLockAfter failures in a row (until `user unlock`). */
  async deviceStopped(userId: UserId, deviceId: DeviceId): Promise<boolean> {
    return (await this.store.loginStreak(deviceScope(userId, deviceId))) >= this.throttle.policy.hardLockAfter;
  }

  /**
   * A successful sign-in ends the account's episode: its back-off, run and lock (a sign-in at an enrolled
   * workstation lifts even the hard stop), and the workstation's own, if it proved one.
   */
  async succeeded(user: UserRecord, deviceId: DeviceId | null, actor: string): Promise<void> {
    const now = this.clock.now();
    await this.store.clearLoginFailures(accountScope(user.id));
    if (deviceId !== null) await this.store.clearLoginFailures(deviceScope(user.id, deviceId));
    const lifted = user.lockedUntil !== null && user.lockedUntil > now;
    await this.store.updateUser(user.id, { lastActiveAt: now, lockedUntil: null }, lifted ? [{ type: 'account.unlocked', actor, subject: user.id, details: { by: 'sign-in at an enrolled workstation' } }] : []);
  }
}

function enrolledFactors(user: UserRecord | undefined): { passwordHash: string; totpSecret: string; totpLastStep: number } | undefined {
  return user?.passwordHash && user.totpSecret ? { passwordHash: user.passwordHash, totpSecret: user.totpSecret, totpLastStep: user.totpLastStep } : undefined;
}
