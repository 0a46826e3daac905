/** Injected wherever time matters, so tests can run in virtual time. Milliseconds since the epoch. */
export interface Clock {
  now(): number;
}

/** A timer that can be called off; cancelling one that already ran (or was cancelled) does nothing. */
export interface Cancellable {
  cancel(): void;
}

/**
 * Time and timers, injected so tests run in virtual time (see test/fixtures/virtualScheduler). The core
 * reads the time and sets timers only through this: no `Date.now`, `setTimeout` or `setInterval` of its own.
 */
export interface Scheduler extends Clock {
  /** Runs `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): Cancellable;
  /** Runs `fn` once, `ms` from now, unless cancelled first. */
  after(ms: number, fn: () => void): Cancellable;
}

export const systemClock: Clock = { now: () => Date.now() };

/** The real clock and timers; they never keep the process alive on their own. */
export const realScheduler: Scheduler = {
  now: () => Date.now(),
  every: (ms, fn) => {
    const timer = setInterval(fn, ms);
    timer.unref();
    return { cancel: () => clearInterval(timer) };
  },
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};
