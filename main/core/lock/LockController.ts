import type { Scheduler } from '../Clock';

/** Why the app locked: automatically (inactivity, the OS locked or suspended), "Lock now", or quitting. */
export type LockReason = 'inactivity' | 'osLock' | 'suspend' | 'manual' | 'quit';

export interface LockControllerOptions {
  readonly scheduler: Scheduler;
  /** Org policy: the longest inactivity allowed before the lock (minutes). */
  readonly maxInactivityMinutes: number;
  /** The user's own, shorter choice (minutes); anything longer than the policy is capped to it. */
  readonly userInactivityMinutes?: number | undefined;
  /** Org policy: hours locked after which the lock becomes a full sign-out. */
  readonly signOutAfterLockedHours: number;
  /**
   * How long the whole machine has had no input (seconds): in the shell, powerMonitor's system idle
   * time. A safety net for a renderer that stopped reporting activity; never keeps the app unlocked.
   */
  readonly systemIdleSeconds?: () => number;
  /** The app's lock routine (close the database, drop keys...); `lockNow` resolves when it has run. */
  readonly onLock: (reason: LockReason) => Promise<void> | void;
  readonly onSignOut: () => void;
}

/** How often inactivity is checked. The lock comes at most this late after the limit. */
export const CHECK_INTERVAL_MS = 5_000;

/**
 * Automatic logoff (HIPAA 164.312(a)(2)(iii)). While unlocked, the app locks after the inactivity limit
 * without input in the app window (reported by the renderer), at once when the OS locks the screen or
 * suspends, and on "Lock now". While locked, after the sign-out period it tells the app to require a full
 * sign-in. Time and timers are injected, so its tests run in virtual time.
 */
export class LockController {
  readonly #options: LockControllerOptions;
  #userMinutes: number | undefined;
  #state: 'unlocked' | 'locked' | 'signedOut' | 'idle' = 'idle';
  /** The lock routine under way, if any. */
  #closing: Promise<void> | undefined;
  /** An OS lock or suspend that came while an unlock was under way (see opening). */
  #lockRequested: LockReason | undefined;
  #lastActivity = 0;
  #lockedAt = 0;
  #timer: { cancel(): void } | undefined;

  constructor(options: LockControllerOptions) {
    this.#options = options;
    this.#userMinutes = options.userInactivityMinutes;
  }

  /** The inactivity limit in force: the user's choice, capped by the policy. */
  get timeoutMinutes(): number {
    const max = this.#options.maxInactivityMinutes;
    return this.#userMinutes === undefined ? max : Math.min(this.#userMinutes, max);
  }

  get state(): 'unlocked' | 'locked' | 'signedOut' | 'idle' {
    return this.#state;
  }

  setUserTimeout(minutes: number | undefined): void {
    this.#userMinutes = minutes;
  }

  /**
   * An unlock (or sign-in, or enrollment) starts: an OS lock or suspend from now until it completes is
   * kept, and locks the profile as soon as it is open (an unlock under way cannot outrun a suspend).
   */
  opening(): void {
    this.#lockRequested = undefined;
  }

  /** A profile was unlocked (or signed in): inactivity counts from now. */
  unlocked(): void {
    this.#state = 'unlocked';
    this.#lastActivity = this.#options.scheduler.now();
    this.#watch();
    const requested = this.#lockRequested;
    this.#lockRequested = undefined;
    if (requested) void this.#lock(requested);
  }

  /** The app locked for another reason (app start on the lock screen, an explicit lock). */
  locked(at = this.#options.scheduler.now()): void {
    this.#state = 'locked';
    this.#lockedAt = at;
    this.#watch();
  }

  /** No profile is open (the chooser): nothing to lock. */
  stop(): void {
    this.#state = 'idle';
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Keyboard, mouse or touch input in the app window (the renderer reports it, throttled). */
  activity(): void {
    if (this.#state === 'unlocked') this.#lastActivity = this.#options.scheduler.now();
  }

  osLocked(): void {
    void this.#lock('osLock');
  }

  suspended(): void {
    void this.#lock('suspend');
  }

  /**
   * "Lock now" (or quitting): the one way the app locks, so this controller always knows whether it is
   * locked. Resolves when the app's lock routine has run; does nothing unless unlocked.
   */
  lockNow(reason: LockReason = 'manual'): Promise<void> {
    return this.#lock(reason);
  }

  #lock(reason: LockReason): Promise<void> {
    if (this.#state !== 'unlocked') {
      if (reason === 'osLock' || reason === 'suspend') this.#lockRequested = reason;
      // A lock still closing is waited for: nothing opens the profile again until it has.
      return this.#closing ?? Promise.resolve();
    }
    this.locked();
    const closing: Promise<void> = Promise.resolve(this.#options.onLock(reason)).finally(() => {
      if (this.#closing === closing) this.#closing = undefined;
    });
    this.#closing = closing;
    return closing;
  }

  #watch(): void {
    this.#timer?.cancel();
    this.#timer = this.#options.scheduler.every(CHECK_INTERVAL_MS, () => this.#check());
  }

  #check(): void {
    const now = this.#options.scheduler.now();
    if (this.#state === 'unlocked') {
      const limitMs = this.timeoutMinutes * 60_000;
      const appIdle = now - this.#lastActivity;
      const systemIdle = (this.#options.systemIdleSeconds?.() ?? 0) * 1000;
      if (appIdle >= limitMs || systemIdle >= limitMs) void this.#lock('inactivity');
    } else if (this.#state === 'locked' && now - this.#lockedAt >= this.#options.signOutAfterLockedHours * 3600_000) {
      this.#state = 'signedOut';
      this.#timer?.cancel();
      this.#timer = undefined;
      this.#options.onSignOut();
    }
  }
}
