import type { DeviceId, UserId } from '../../shared/ids';
import type { AuditEvent } from '../audit/AuditRecord';
import type { Clock } from '../Clock';
import { belowFreeDiskReserve, type RelayStore, type UserRecord } from '../storage/RelayStore';
import { RelayFailure, STORAGE_RETRY_SECONDS, storageFull } from '../RelayFailure';
import { CodeCheckBudget } from './CodeCheckBudget';
import { LOCKED_UNTIL_UNLOCKED, LoginThrottle, accountScope, addressScope, deviceScope, throttledFor, usernameScope } from './LoginThrottle';
import type { PasswordHasher } from './passwords';
import { RepeatCounter } from './RepeatCounter';
import { newTotpSecret, totpStep } from './totp';

/** Which factor a failed attempt got wrong (for the audit log only: callers always hear the same answer). */
export type FailedFactor = 'one-time code' | 'password';

/** The outcome of checking password and code: the TOTP step to claim, or the factor that failed. */
export type FactorCheck = { readonly ok: true; readonly step: number } | { readonly ok: false; readonly factor: FailedFactor };

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
 * - A wrong (or used) code from an address that is free to try counts against the address too, which
 *   bounds how many failures (rows, verdicts, pauses) one address can cause across all accounts. Once the
 *   address must wait, its attempts are not counted at all: each may have its code checked within a small
 *   budget per account (CodeCheckBudget) and is answered like any other (a valid code goes on to the
 *   password, so a stranger sharing a ward's address cannot hold up a clinician who has her code; a wrong
 *   one hears the same verdict, uncounted); past the budget, THROTTLED without looking at the code. So a
 *   throttled address can neither try codes for free (nothing tells a valid code from a wrong one before
 *   it is checked) nor pause, stop or fill the store for anyone.
 * - A failure that the store cannot record (its storage full) is counted in memory (LoginThrottle).
 * - Audit: every verdict of a counted attempt; the start of an episode (lockAfter failures in a row) and
 *   its locks flagged, once each; THROTTLED answers counted per episode of the scope that must wait, and
 *   every refusal from an address that must wait per episode of that address, whatever names it tries.
 */
export class SignInChecks {
  readonly #decoySecret = newTotpSecret();
  readonly #throttledRepeats: RepeatCounter;
  readonly #waitingChecks: CodeCheckBudget;

  constructor(
    private readonly store: RelayStore,
    private readonly clock: Clock,
    private readonly throttle: LoginThrottle,
    private readonly passwords: PasswordHasher,
    /** The free-disk reserve (the relay's config, read at each attempt): below it no unproven sign-in is checked. */
    private readonly disk: { readonly minFreeDiskBytes: number } = { minFreeDiskBytes: 0 },
  ) {
    this.#throttledRepeats = new RepeatCounter(throttle.policy.windowMs);
    this.#waitingChecks = new CodeCheckBudget(throttle.policy.waitingCheckIntervalMs, throttle.policy.waitingCheckBurst);
  }

  /**
   * Below the free-disk reserve no factor of a sign-in that proves no enrolled workstation (a new one, an
   * enrollment, an emergency code) is checked: everyone hears RELAY_STORAGE_FULL before any code or
   * password is looked at, so the answer tells nothing and there is no failure to record. What is left
   * is kept for sign-ins at enrolled workstations, deliveries and the audit log.
   */
  async assertRoomForUnprovenSignIn(): Promise<void> {
    if ((await belowFreeDiskReserve(this.store, this.disk.minFreeDiskBytes)).low) {
      throw storageFull(`the relay is keeping its last free storage for sign-ins at enrolled workstations; try again in ${STORAGE_RETRY_SECONDS} s`);
    }
  }

  /** Throws THROTTLED if any scope must wait; the first refusal of the scope's episode (then every 10×) is audited. */
  async notThrottled(scopes: readonly string[], actor: string, subject: string): Promise<void> {
    for (const scope of scopes) {
      const refusal = await this.mustWait(scope);
      if (!refusal) continue;
      const { count, audit } = this.#throttledRepeats.note(scope, this.clock.now());
      if (audit) await this.store.appendAudit([{ type: 'login.throttled', actor, subject, details: { scope: scope.slice(0, scope.indexOf(':')), count } }]);
      throw refusal;
    }
  }

  /** The THROTTLED failure when the scope must wait now, or undefined. Nothing is audited: the caller says how. */
  async mustWait(scope: string): Promise<RelayFailure | undefined> {
    try {
      await this.throttle.check(scope);
      return undefined;
    } catch (error) {
      if (!(error instanceof RelayFailure) || error.code !== 'THROTTLED') throw error;
      return error;
    }
  }

  /**
   * Lets an attempt from an address that must wait (`wait` is the address's THROTTLED) have its code
   * checked: throws THROTTLED if one of `scopes` (the account's own) must wait or the budget under
   * `budgetKey` is spent (then to be tried again when the address or the budget allows, whichever is
   * sooner); otherwise takes one check from that budget. Either way before the code is looked at, so the
   * answer cannot depend on it; nothing is written but the address's episode (refuseFromWaitingAddress).
   */
  async admitFromWaitingAddress(address: string, wait: RelayFailure, scopes: readonly string[], budgetKey: string): Promise<void> {
    for (const scope of scopes) {
      const refusal = await this.mustWait(scope);
      if (refusal) await this.refuseFromWaitingAddress(address, refusal);
    }
    const budgetMs = this.#waitingChecks.take(budgetKey, this.clock.now());
    if (budgetMs !== undefined) await this.refuseFromWaitingAddress(address, throttledFor(Math.min(budgetMs, wait.extra.retryAfterMs ?? budgetMs), 'code-check-budget'));
  }

  /**
   * Refuses an attempt from an address that must wait with `failure` (THROTTLED, or the verdict on a wrong
   * code, which is not counted). Audited as one episode per address, whatever names its attempts gave: the
   * first refusal, then every tenfold count, so a flood of names from one address cannot fill the log.
   */
  async refuseFromWaitingAddress(address: string, failure: RelayFailure): Promise<never> {
    const { count, audit } = this.#throttledRepeats.note(addressScope(address), this.clock.now());
    if (audit) await this.store.appendAudit([{ type: 'login.throttled', actor: `anonymous@${address}`, subject: '', details: { scope: 'address', count } }]);
    throw failure;
  }

  /**
   * Runs the rest of an attempt that passed its throttle: its factors and whatever follows. If it ends
   * because the store is full, whatever the factors were, it is counted as a failure against `scopes` in
   * memory: the throttle holds without the store, and a right password leaves the same trace as a wrong
   * one (both are answered RELAY_STORAGE_FULL).
   */
  async countedWhenStoreFull<T>(scopes: readonly string[], attempt: () => Promise<T>): Promise<T> {
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof RelayFailure && error.code === 'RELAY_STORAGE_FULL') this.throttle.noteUnrecorded(scopes, this.clock.now());
      throw error;
    }
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
   * A failed attempt that did not prove an enrolled workstation, answered with a verdict: counted against
   * the account (or the unknown username), and against the address too if `chargeAddress` (a wrong code
   * from an address free to try); it may start an episode, pause or stop such sign-ins. The failure and
   * the pause or stop are one write, so the failure that locks an account takes as long as any other (and
   * as one at a name nobody has).
   */
  async unprovenFailure(user: UserRecord | undefined, username: string, address: string, factor: FailedFactor, chargeAddress: boolean): Promise<void> {
    const now = this.clock.now();
    const actor = `anonymous@${address}`;
    const { policy } = this.throttle;
    const scope = user ? accountScope(user.id) : usernameScope(username);
    const scopes = chargeAddress ? [scope, addressScope(address)] : [scope];
    // The same reads for every kind of account, so the time taken does not tell them apart either.
    const consecutive = (await this.store.loginStreak(scope)) + 1;
    const inWindow = (await this.store.loginFailures(scope, now - policy.windowMs)).length + 1;
    if (!user?.passwordHash) {
      // Unknown usernames have no run (nothing to lock; arbitrary names must not pile up rows forever).
      const details = user ? { reason: 'account not enrolled yet' } : { reason: 'unknown user' };
      await this.store.recordLoginFailure(scopes, now, [{ type: 'login.failure', actor, subject: user?.id ?? '', details }]);
      return;
    }
    const lockedNow = user.lockedUntil !== null && user.lockedUntil > now;
    const hardStop = consecutive >= policy.hardLockAfter && user.lockedUntil !== LOCKED_UNTIL_UNLOCKED;
    const pause = !hardStop && !lockedNow && inWindow >= policy.lockAfter;
    // The episode's first lock is flagged (lockedUntil is cleared by a success or an unlock, so null means
    // none since); so is the hard stop, and the start of a run of failures that no lock announced.
    const lockFlagged = hardStop || (pause && user.lockedUntil === null);
    const episodeStarts = consecutive === policy.lockAfter && !lockFlagged;
    const audit: AuditEvent[] = [{ type: 'login.failure', actor, subject: user.id, details: { factor, consecutive }, ...(episodeStarts ? { flagged: true } : {}) }];
    const until = hardStop ? LOCKED_UNTIL_UNLOCKED : pause ? this.throttle.lockedUntil(now) : undefined;
    if (until !== undefined) {
      audit.push({
        type: 'account.locked', actor: 'system', subject: user.id,
        details: { failures: inWindow, consecutive, until: until === LOCKED_UNTIL_UNLOCKED ? null : until, appliesTo: 'sign-ins without an enrolled workstation' },
        ...(lockFlagged ? { flagged: true } : {}),
      });
    }
    await this.store.recordLoginFailure(scopes, now, audit, scope, until === undefined ? undefined : { userId: user.id, lockedUntil: until });
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
   * workstation, or at the identity provider (`method: 'sso'`), lifts even the hard stop), and the
   * workstation's own, if it proved one.
   */
  async succeeded(user: UserRecord, deviceId: DeviceId | null, actor: string, method: 'password' | 'sso' = 'password'): Promise<void> {
    const now = this.clock.now();
    await this.throttle.clear(accountScope(user.id));
    if (deviceId !== null) await this.throttle.clear(deviceScope(user.id, deviceId));
    const lifted = user.lockedUntil !== null && user.lockedUntil > now;
    const by: Record<string, string> = method === 'sso' ? { by: 'sign-in with the identity provider', method } : { by: deviceId !== null ? 'sign-in at an enrolled workstation' : 'sign-in with password and one-time code' };
    await this.store.updateUser(user.id, { lastActiveAt: now, lockedUntil: null }, lifted ? [{ type: 'account.unlocked', actor, subject: user.id, details: by }] : []);
  }
}

function enrolledFactors(user: UserRecord | undefined): { passwordHash: string; totpSecret: string; totpLastStep: number } | undefined {
  return user?.passwordHash && user.totpSecret ? { passwordHash: user.passwordHash, totpSecret: user.totpSecret, totpLastStep: user.totpLastStep } : undefined;
}
