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

/** Thrown by a bounded Semaphore when its waiting line is full: the caller sheds the work instead of queueing it. */
export class QueueFullError extends Error {
  constructor(readonly waiting: number) {
    super(`${waiting} tasks are already waiting`);
    this.name = 'QueueFullError';
  }
}

/**
 * At most `limit` tasks at once (Argon2 work is memory-hungry; a burst must not exhaust the machine), and
 * at most `maxWaiting` more waiting for a slot: past that, `run` throws QueueFullError at once, so a flood
 * cannot build a queue that everyone after it waits behind. `urgent` tasks wait at the front of the line
 * and are never turned away, but only `maxUrgentWaiting` of them at a time: past that an urgent task
 * waits in the ordinary line like any other (and may be turned away), so however many of them arrive,
 * an ordinary task is overtaken by at most that many.
 */
export class Semaphore {
  #active = 0;
  readonly #waiting: (() => void)[] = [];
  #urgentWaiting = 0;

  constructor(
    private readonly limit: number,
    private readonly maxWaiting = Number.POSITIVE_INFINITY,
    private readonly maxUrgentWaiting = Number.POSITIVE_INFINITY,
  ) {}

  /** Tasks waiting for a slot right now (urgent ones included). */
  get waiting(): number {
    return this.#waiting.length;
  }

  async run<T>(fn: () => Promise<T>, options: { urgent?: boolean } = {}): Promise<T> {
    if (this.#active >= this.limit) {
      if (options.urgent && this.#urgentWaiting < this.maxUrgentWaiting) {
        await new Promise<void>((resolve) => this.#waiting.splice(this.#urgentWaiting++, 0, () => {
          this.#urgentWaiting--;
          resolve();
        }));
      } else {
        if (this.#waiting.length - this.#urgentWaiting >= this.maxWaiting) throw new QueueFullError(this.#waiting.length);
        await new Promise<void>((resolve) => this.#waiting.push(resolve));
      }
      // The task that finished handed its slot over (#active still counts it): nobody can slip in between.
    } else {
      this.#active++;
    }
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}
