interface Pending<Item, Result> {
  readonly item: Item;
  readonly resolve: (result: Result) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Group commit: work handed in during one turn of the event loop is written in one transaction (one
 * fsync for many senders and acknowledgements), and each caller's promise resolves with its own result
 * only after that commit. A batch is flushed early once it holds `maxItems`, so an overloaded relay
 * writes steadily instead of stalling on one huge transaction.
 *
 * Work that nobody waits on to answer a client (`add(item, 'soon')`: an acknowledgement, whose sender
 * hears nothing back) rides along with the next urgent commit, or is written on its own after `soonMs`:
 * at a low rate every message otherwise costs two commits (its send and its acknowledgement), each with
 * its fsync and its pages encrypted and written again.
 */
export class GroupCommit<Item, Result> {
  readonly #write: (items: readonly Item[]) => Result[] | Promise<Result[]>;
  readonly #maxItems: number;
  readonly #maxInFlight: number;
  /** Batches being written by an asynchronous `write` (a PostgreSQL transaction), not yet answered. */
  readonly #inFlight = new Set<Promise<void>>();
  readonly #soonMs: number;
  readonly #retryAlone: (error: unknown, item: Item) => boolean;
  #pending: Pending<Item, Result>[] = [];
  /** A flush at the end of this turn of the event loop is scheduled. */
  #turn = false;
  /** A flush after `soonMs` is scheduled (for `soon` work alone). */
  #timer: NodeJS.Timeout | null = null;

  /**
   * `write` runs the whole batch in one transaction and returns one result per item, in order, or a promise
   * of them (a database across the network). With an asynchronous write, at most `maxInFlight` batches are
   * written at once; what arrives meanwhile waits and goes in the next, larger batch (one commit for more).
   */
  constructor(write: (items: readonly Item[]) => Result[] | Promise<Result[]>, options: { maxItems?: number; soonMs?: number; maxInFlight?: number; retryAlone?: (error: unknown, item: Item) => boolean } = {}) {
    this.#write = write;
    this.#maxInFlight = options.maxInFlight ?? 1;
    this.#retryAlone = options.retryAlone ?? (() => false);
    this.#maxItems = options.maxItems ?? 2000;
    this.#soonMs = options.soonMs ?? 20;
  }

  /** `now`: written at the end of this turn of the event loop; `soon`: with the next `now`, or after `soonMs`. */
  add(item: Item, when: 'now' | 'soon' = 'now'): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (this.#pending.length >= this.#maxItems) {
        this.#flush();
      } else if (when === 'now' && !this.#turn) {
        this.#turn = true;
        setImmediate(() => {
          this.#turn = false;
          this.#flush();
        });
      } else if (when === 'soon' && !this.#turn && !this.#timer) {
        this.#timer = setTimeout(() => this.#flush(), this.#soonMs);
      }
    });
  }

  /** Writes whatever is waiting, now, and resolves once every batch is answered (used on shutdown). */
  async drain(): Promise<void> {
    this.#flush();
    while (this.#inFlight.size > 0 || this.#pending.length > 0) {
      await Promise.all(this.#inFlight);
      this.#flush();
    }
  }

  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    // Writes under way: the next batch starts when one is answered (and holds what came meanwhile, up to
    // maxItems a batch: a backlog is written as several transactions, none holding its locks for long).
    while (this.#pending.length > 0 && this.#inFlight.size < this.#maxInFlight) this.#writeOrRetry(this.#pending.splice(0, this.#maxItems));
  }

  /**
   * The transaction rolls back as a whole. The items `retryAlone` picks for the error (a full disk: the
   * acknowledgements, which free space, but not the sends) are written again together, once; the rest
   * fail with the error. A failure of the whole database (busy, I/O, closed) fails every item at once:
   * trying it again item by item would wait out the busy timeout once per item.
   */
  #writeOrRetry(batch: readonly Pending<Item, Result>[], retry = true): void {
    const answer = (results: Result[]) => batch.forEach((b, i) => b.resolve(results[i] as Result));
    let written: Result[] | Promise<Result[]>;
    try {
      written = this.#write(batch.map((b) => b.item));
    } catch (error) {
      this.#failed(batch, error, retry);
      return;
    }
    if (!(written instanceof Promise)) {
      answer(written);
      return;
    }
    const done = written.then(answer, (error: unknown) => this.#failed(batch, error, retry)).finally(() => {
      this.#inFlight.delete(done);
      if (this.#pending.length > 0) this.#flush();
    });
    this.#inFlight.add(done);
  }

  #failed(batch: readonly Pending<Item, Result>[], error: unknown, retry: boolean): void {
    const again = retry ? batch.filter((b) => this.#retryAlone(error, b.item)) : [];
    const retried = new Set(again);
    for (const b of batch) if (!retried.has(b)) b.reject(error);
    if (again.length > 0 && again.length < batch.length) this.#writeOrRetry(again, false);
    else for (const b of again) b.reject(error);
  }
}
