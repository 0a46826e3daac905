import type { UserId } from '../../shared/ids';
import type { Clock } from '../Clock';
import { RelayFailure } from '../RelayFailure';
import type { RelayStore } from '../storage/RelayStore';

export interface ThrottlePolicy {
  /** Failures are counted over this window (default 15 minutes). */
  readonly windowMs: number;
  /** Failures allowed before delays start. */
  readonly freeFailures: number;
  /** First delay; it doubles with each further failure up to maxDelayMs. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** This many failures within the window lock the account (default 10). */
  readonly lockAfter: number;
  /**
   * Source addresses are slowed more gently (a ward's shared address must not lock out the nurse with the
   * right password because someone else mistyped): more free failures, a shorter longest delay.
   */
  readonly addressFreeFailures: number;
  readonly addressMaxDelayMs: number;
  /** How long a lock lasts; 0 means until an admin runs `user unlock`. */
  readonly lockMs: number;
}

export const DEFAULT_THROTTLE: ThrottlePolicy = {
  windowMs: 15 * 60_000,
  freeFailures: 3,
  baseDelayMs: 1000,
  maxDelayMs: 5 * 60_000,
  lockAfter: 10,
  lockMs: 30 * 60_000,
  addressFreeFailures: 20,
  addressMaxDelayMs: 30_000,
};

/** Stored in locked_until for "until an admin unlocks". */
export const LOCKED_UNTIL_UNLOCKED = Number.MAX_SAFE_INTEGER;

export const accountScope = (userId: UserId) => `account:${userId}`;
export const addressScope = (address: string) => `address:${address}`;
/**
 * Guesses at emergency codes are throttled on their own: a clinician locked out by failed sign-ins at a
 * workstation must still be able to use the code an admin hands over, at that workstation.
 */
export const emergencyScope = (address: string) => `emergency:${address}`;

/**
 * Growing delays per account and per source address (a guesser spreading over many accounts is slowed
 * as much as one hammering a single account); only accounts are locked (locking addresses would let
 * anyone on a shared network lock out a ward).
 */
export class LoginThrottle {
  constructor(
    private readonly store: RelayStore,
    private readonly clock: Clock,
    readonly policy: ThrottlePolicy = DEFAULT_THROTTLE,
  ) {}

  /** Throws THROTTLED when the scope must wait before another attempt. */
  async check(scope: string): Promise<void> {
    const now = this.clock.now();
    const failures = await this.store.loginFailures(scope, now - this.policy.windowMs);
    const wait = scope.startsWith('account:') ? this.delayAfter(failures.length) : this.addressDelayAfter(failures.length);
    const last = failures.at(-1);
    if (wait > 0 && last !== undefined && now < last + wait) {
      const retryAfterMs = last + wait - now;
      throw new RelayFailure('THROTTLED', 'too many failed attempts; wait before trying again', { retryAfterSeconds: Math.ceil(retryAfterMs / 1000), retryAfterMs });
    }
  }

  delayAfter(failures: number): number {
    if (failures < this.policy.freeFailures) return 0;
    return Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (failures - this.policy.freeFailures));
  }

  addressDelayAfter(failures: number): number {
    if (failures < this.policy.addressFreeFailures) return 0;
    return Math.min(this.policy.addressMaxDelayMs, this.policy.baseDelayMs * 2 ** (failures - this.policy.addressFreeFailures));
  }

  /** Failures of the account within the window (after recording the latest). */
  async accountFailures(userId: UserId): Promise<number> {
    return (await this.store.loginFailures(accountScope(userId), this.clock.now() - this.policy.windowMs)).length;
  }

  lockedUntil(now: number): number {
    return this.policy.lockMs === 0 ? LOCKED_UNTIL_UNLOCKED : now + this.policy.lockMs;
  }
}
