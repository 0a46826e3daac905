/**
 * Runs work one at a time per key (an account, a source address). Sign-in checks for the same account
 * or address are serialised, so a burst of concurrent guesses cannot slip past the throttle while an
 * earlier guess is still being verified. (One relay process; a multi-instance deployment needs the same
 * guarantee from its database.)
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<unknown>>();

  /** Holds every key in `keys` (taken in sorted order, so two callers never deadlock) while `fn` runs. */
  async run<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const release: (() => void)[] = [];
    for (const key of sorted) {
      const previous = this.#tails.get(key) ?? Promise.resolve();
      let done!: () => void;
      const held = new Promise<void>((resolve) => (done = resolve));
      const tail = previous.then(() => held);
      this.#tails.set(key, tail);
      release.push(() => {
        done();
        if (this.#tails.get(key) === tail) this.#tails.delete(key);
      });
      await previous;
    }
    try {
      return await fn();
    } finally {
      for (const r of release) r();
    }
  }
}

/** At most `limit` tasks at once (Argon2 work is memory-hungry; a burst must not exhaust the machine). */
export class Semaphore {
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
    try {
      return await fn();
    } finally {
      this.#active--;
      this.#waiting.shift()?.();
    }
  }
}
