/** Injected wherever the relay reads the time, so tests can run in virtual time. Milliseconds. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
