import type { UserId } from '../../shared/ids';

/**
 * What a relay remembers about accounts between requests (a socket's authorisation, an account's active
 * devices) until a control event about the account says to forget it, or its time is up. A read of the
 * database that started before a forget() and ends after it must not put the old answer back: every set()
 * carries the generation its read started in (`generation(userId)`), and one older than the account's current
 * generation is dropped. (Without this a sign-in's new device could stay unknown to senders until the time ran
 * out: the read of the device list raced the event that dropped it.)
 */
export class AccountMemory<V> {
  readonly #entries = new Map<UserId, Map<string, { readonly value: V; readonly until: number }>>();
  /** The last forget() of each account, as a number from #counter; with #epoch, what a set() is checked against. */
  readonly #forgotten = new Map<UserId, number>();
  #counter = 0;
  /** Moves on forgetAll(): every read under way is stale. */
  #epoch = 0;
  #size = 0;

  constructor(private readonly maxEntries: number) {}

  /** Take this before the database read whose answer set() will remember. */
  generation(userId: UserId): number {
    return Math.max(this.#epoch, this.#forgotten.get(userId) ?? 0);
  }

  get(userId: UserId, key: string, now: number): V | undefined {
    const entry = this.#entries.get(userId)?.get(key);
    return entry && entry.until > now ? entry.value : undefined;
  }

  /** Remembers `value` until `until`, unless the account was forgotten since `generation` was taken. */
  set(userId: UserId, key: string, value: V, until: number, generation: number): void {
    if (generation < this.generation(userId)) return;
    if (this.#size >= this.maxEntries) this.forgetAll();
    let entries = this.#entries.get(userId);
    if (!entries) this.#entries.set(userId, (entries = new Map()));
    if (!entries.has(key)) this.#size++;
    entries.set(key, { value, until });
  }

  forget(userId: UserId): void {
    this.#size -= this.#entries.get(userId)?.size ?? 0;
    this.#entries.delete(userId);
    this.#forgotten.set(userId, ++this.#counter);
  }

  /** Everything, and every read under way (the news may have been missed: a reconnect, a failover). */
  forgetAll(): void {
    this.#entries.clear();
    this.#forgotten.clear();
    this.#size = 0;
    this.#epoch = ++this.#counter;
  }
}
