/**
 * Counts repeats of one kind of event per key (a device whose credential keeps being refused, a scope
 * that keeps being throttled), so the audit log holds the first occurrence of each episode and then the
 * 10th, 100th, 1,000th... with the count so far: an admin sees the episode and its size, and a client
 * retrying in a loop (or an attacker) cannot fill the log. An episode ends after `quietMs` without one.
 * In memory: a restart starts new episodes, which costs at most one more record each.
 */
export class RepeatCounter {
  readonly #episodes = new Map<string, { count: number; lastAt: number }>();

  constructor(
    private readonly quietMs: number,
    /** Keys remembered at most (the oldest is forgotten first, so memory stays bounded under a flood). */
    private readonly maxKeys = 10_000,
  ) {}

  /** Counts one occurrence; `audit` says whether this one goes into the log. */
  note(key: string, now: number): { count: number; audit: boolean } {
    const previous = this.#episodes.get(key);
    const count = previous && now - previous.lastAt < this.quietMs ? previous.count + 1 : 1;
    this.#episodes.delete(key);
    this.#episodes.set(key, { count, lastAt: now });
    if (this.#episodes.size > this.maxKeys) {
      const oldest = this.#episodes.keys().next().value;
      if (oldest !== undefined) this.#episodes.delete(oldest);
    }
    return { count, audit: isPowerOfTen(count) };
  }

  /** Ends the key's episode (after a success, or when an admin acted on it). */
  end(key: string): void {
    this.#episodes.delete(key);
  }
}

function isPowerOfTen(n: number): boolean {
  let x = n;
  while (x >= 10 && x % 10 === 0) x /= 10;
  return x === 1;
}
