/**
 * Group commit: work handed in during one turn of the event loop is written in one transaction (one
 * fsync for many senders and acknowledgements), and each caller's promise resolves with its own result
 * only after that commit. A batch is flushed early once it holds `maxItems`, so an overloaded relay
 * writes steadily instead of stalling on one huge transaction.
 */
export class GroupCommit<Item, Result> {
  readonly #write: (items: readonly Item[]) => Result[];
  readonly #maxItems: number;
  #pending: { item: Item; resolve: (result: Result) => void; reject: (error: unknown) => void }[] = [];
  #scheduled: Promise<void> | null = null;

  /** `write` runs the whole batch in one transaction and returns one result per item, in order. */
  constructor(write: (items: readonly Item[]) => Result[], maxItems = 2000) {
    this.#write = write;
    this.#maxItems = maxItems;
  }

  add(item: Item): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (this.#pending.length >= this.#maxItems) this.#flush();
      else this.#scheduled ??= new Promise<void>((done) => setImmediate(() => {
        this.#flush();
        done();
      }));
    });
  }

  /** Waits for anything queued to be written (used on shutdown). */
  async drain(): Promise<void> {
    while (this.#scheduled) await this.#scheduled;
    if (this.#pending.length > 0) this.#flush();
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    this.#scheduled = null;
    if (batch.length === 0) return;
    try {
      const results = this.#write(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(results[i] as Result));
    } catch (error) {
      for (const b of batch) b.reject(error);
    }
  }
}
