import { isIPv6 } from 'node:net';
import type { UserId } from '../../shared/ids';
import type { Clock } from '../Clock';
import { RelayFailure } from '../RelayFailure';
import type { RelayStore } from '../storage/RelayStore';

export interface ThrottlePolicy {
  /** Failures are counted over this window for the pause (lockAfter) and for addresses (default 15 minutes). */
  readonly windowMs: number;
  /**
   * An account's (or unknown username's, or workstation's) failures slow it for this long (default 24
   * hours, as long as failures are kept): a patient guesser stays at the longest delay instead of
   * waiting out a short window, while a success (or `user unlock`) clears them at once.
   */
  readonly slowWindowMs: number;
  /** Failures allowed before delays start. */
  readonly freeFailures: number;
  /** First delay; it doubles with each further failure up to maxDelayMs. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /**
   * This many failures within the window pause sign-ins that do not come from one of the account's
   * enrolled workstations (default 10), for lockMs. A run of this many in a row, however slow, starts an
   * episode: one flagged audit record.
   */
  readonly lockAfter: number;
  /**
   * The hard stop (NIST SP 800-63B: at most 100 consecutive failures): after this many failures in a row
   * without a success, unproven sign-ins to the account (or sign-ins from that one workstation) stop until
   * an admin runs `user unlock` (or, for the account, the clinician signs in at an enrolled workstation).
   */
  readonly hardLockAfter: number;
  /**
   * Source addresses are slowed more gently (a ward's shared address must not lock out the nurse with the
   * right password because someone else mistyped): more free failures, a shorter longest delay.
   */
  readonly addressFreeFailures: number;
  readonly addressMaxDelayMs: number;
  /** How long a lock lasts; 0 means until an admin runs `user unlock`. */
  readonly lockMs: number;
  /**
   * An attempt from an address that must wait has its one-time code checked, uncounted, only within a
   * budget per account (or unknown username): this many at once, then one per waitingCheckIntervalMs
   * (default 3, then one each 5 minutes: about the dozen an hour the account's own delays allow).
   */
  readonly waitingCheckBurst: number;
  readonly waitingCheckIntervalMs: number;
}

export const DEFAULT_THROTTLE: ThrottlePolicy = {
  windowMs: 15 * 60_000,
  slowWindowMs: 24 * 3600_000,
  freeFailures: 3,
  baseDelayMs: 1000,
  maxDelayMs: 5 * 60_000,
  lockAfter: 10,
  hardLockAfter: 100,
  lockMs: 30 * 60_000,
  addressFreeFailures: 20,
  addressMaxDelayMs: 30_000,
  waitingCheckBurst: 3,
  waitingCheckIntervalMs: 5 * 60_000,
};

/** Failures the store could not record (its storage full) are remembered for this many scopes at most... */
const UNRECORDED_SCOPES = 10_000;
/** ...and this many per scope (more change nothing: the longest delay comes after a few dozen). */
const UNRECORDED_PER_SCOPE = 128;

/** Stored in locked_until for "until an admin unlocks". */
export const LOCKED_UNTIL_UNLOCKED = Number.MAX_SAFE_INTEGER;

/** What made a sign-in wait, as the metrics count it: the kind of counter, or the budget, that said so. */
export type ThrottleReason = 'account' | 'address' | 'workstation' | 'enrollment' | 'emergency-address' | 'code-check-budget' | 'unrecorded-failures-full';

/** Kept beside the failure, not in it: its `extra` goes to the client, which is not told which counter it hit. */
const reasons = new WeakMap<RelayFailure, ThrottleReason>();

/** THROTTLED, to be tried again after `retryAfterMs`; `reason` is for the relay's metrics only. */
export function throttledFor(retryAfterMs: number, reason?: ThrottleReason): RelayFailure {
  const failure = new RelayFailure('THROTTLED', 'too many failed attempts; wait before trying again', { retryAfterSeconds: Math.ceil(retryAfterMs / 1000), retryAfterMs });
  if (reason) reasons.set(failure, reason);
  return failure;
}

/** Why a THROTTLED failure was thrown, where known (for the metrics). */
export function throttleReason(failure: RelayFailure): ThrottleReason | undefined {
  return reasons.get(failure);
}

/** A scope's kind as a ThrottleReason. Unknown usernames count as accounts: they are throttled exactly alike. */
function scopeReason(scope: string): ThrottleReason {
  const kind = scope.slice(0, scope.indexOf(':'));
  switch (kind) {
    case 'address': return 'address';
    case 'device': return 'workstation';
    case 'enrollment-of': return 'enrollment';
    case 'emergency': return 'emergency-address';
    default: return 'account';
  }
}

export const accountScope = (userId: UserId) => `account:${userId}`;
/**
 * The unit an address is throttled as: an IPv4 address as it is (an IPv4-mapped IPv6 one as its IPv4
 * address), an IPv6 address by its /64 (one host commonly holds a whole /64, so counting single IPv6
 * addresses would give anyone unlimited "addresses").
 */
export function addressUnit(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (isIPv6(address)) {
    const [head = '', tail = ''] = address.split('::');
    const left = head ? head.split(':') : [];
    const right = tail ? tail.split(':') : [];
    const groups = address.includes('::') ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
    return `${groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(':')}::/64`;
  }
  return address;
}
export const addressScope = (address: string) => `address:${addressUnit(address)}`;
/** A username nobody has: slowed exactly like an account, so THROTTLED does not tell who exists. */
export const usernameScope = (username: string) => `username:${username}`;
/**
 * One enrolled workstation's own sign-ins (attempts that carry its current credential): strangers'
 * failures never slow or lock it.
 */
export const deviceScope = (userId: UserId, deviceId: number) => `device:${userId}.${deviceId}`;
/**
 * Guesses at emergency codes are throttled on their own: a clinician locked out by failed sign-ins at a
 * workstation must still be able to use the code an admin hands over, at that workstation.
 */
export const emergencyScope = (address: string) => `emergency:${addressUnit(address)}`;
/**
 * A pending account's enrollment, once its holder has shown the enrollment's TOTP code: its failures
 * (a wrong code, incomplete device keys) are counted here, apart from the account's sign-ins, so
 * strangers guessing at the new hire's username cannot slow her enrollment, nor she their throttle.
 */
export const enrollmentScope = (userId: UserId) => `enrollment-of:${userId}`;

/**
 * Growing delays per account (or unknown username, or enrolled workstation) and per source address (a
 * guesser spreading over many accounts is slowed as much as one hammering a single account: every counted
 * failure counts against the address too, unless it came with a valid code); addresses are never locked
 * (locking them would let anyone on a shared network lock out a ward).
 *
 * Failures live in the store. One the store cannot record (its storage is full) is counted here in memory
 * instead, so a full disk does not turn the throttle off; a restart forgets those.
 */
export class LoginThrottle {
  /** Per scope, the times of failures the store could not record. */
  readonly #unrecorded = new Map<string, number[]>();
  #sweptAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: RelayStore,
    private readonly clock: Clock,
    readonly policy: ThrottlePolicy = DEFAULT_THROTTLE,
    /** How many scopes' unrecorded failures memory holds (smaller in tests). */
    private readonly unrecordedScopes = UNRECORDED_SCOPES,
  ) {}

  /** Throws THROTTLED when the scope must wait before another attempt. */
  async check(scope: string): Promise<void> {
    const now = this.clock.now();
    const gentle = scope.startsWith('address:') || scope.startsWith('emergency:');
    const since = now - (gentle ? this.policy.windowMs : this.policy.slowWindowMs);
    const recorded = await this.store.loginFailures(scope, since);
    // The store cannot record failures and the memory that stands in for it has no room for this scope:
    // it waits like the rest until the store has room again.
    if (this.#unrecorded.size >= this.unrecordedScopes && !this.#unrecorded.has(scope) && this.#unrecordedFull(now)) throw throttledFor(60_000, 'unrecorded-failures-full');
    const unrecorded = (this.#unrecorded.get(scope) ?? []).filter((at) => at >= since);
    const failures = unrecorded.length === 0 ? recorded : [...recorded, ...unrecorded].sort((a, b) => a - b);
    const wait = gentle ? this.addressDelayAfter(failures.length) : this.delayAfter(failures.length);
    const last = failures.at(-1);
    if (wait > 0 && last !== undefined && now < last + wait) throw throttledFor(last + wait - now, scopeReason(scope));
  }

  delayAfter(failures: number): number {
    if (failures < this.policy.freeFailures) return 0;
    return Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (failures - this.policy.freeFailures));
  }

  addressDelayAfter(failures: number): number {
    if (failures < this.policy.addressFreeFailures) return 0;
    return Math.min(this.policy.addressMaxDelayMs, this.policy.baseDelayMs * 2 ** (failures - this.policy.addressFreeFailures));
  }

  /**
   * Counts a failure the store could not record against each scope, in memory. Nothing tracked is ever
   * pushed out by newer scopes (a flood of made-up names would otherwise refill a guessed-at account's
   * attempts): scopes go only once their failures are older than the slow window, and while the table is
   * full a scope it does not track is not counted but told to wait (see check).
   */
  noteUnrecorded(scopes: readonly string[], at: number): void {
    for (const scope of scopes) {
      const kept = (this.#unrecorded.get(scope) ?? []).filter((t) => t >= at - this.policy.slowWindowMs).slice(1 - UNRECORDED_PER_SCOPE);
      if (!this.#unrecorded.has(scope) && this.#unrecordedFull(at)) continue;
      this.#unrecorded.set(scope, [...kept, at]);
    }
  }

  /** True when the table of unrecorded failures has no room, after dropping scopes whose failures all expired. */
  #unrecordedFull(now: number): boolean {
    if (this.#unrecorded.size < this.unrecordedScopes) return false;
    // At most one sweep a second, so a flood while full costs no more than the flood itself.
    if (now - this.#sweptAt < 1000) return true;
    this.#sweptAt = now;
    for (const [scope, times] of this.#unrecorded) if ((times.at(-1) ?? 0) < now - this.policy.slowWindowMs) this.#unrecorded.delete(scope);
    return this.#unrecorded.size >= this.unrecordedScopes;
  }

  /** Forgets the scope's failures (a success, an unlock): those in the store and those only counted here. */
  async clear(scope: string): Promise<void> {
    this.#unrecorded.delete(scope);
    await this.store.clearLoginFailures(scope);
  }

  lockedUntil(now: number): number {
    return this.policy.lockMs === 0 ? LOCKED_UNTIL_UNLOCKED : now + this.policy.lockMs;
  }
}
