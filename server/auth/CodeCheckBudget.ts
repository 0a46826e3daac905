import { createHmac, randomBytes } from 'node:crypto';

/**
 * How many one-time codes (TOTP, enrollment, emergency) attempts from addresses that must wait may have
 * checked, per account (or per username nobody has, alike), without being counted as failures: a burst,
 * then one per interval. Such an attempt is answered like any other (a valid code goes on, a wrong one
 * hears the usual verdict), so a stranger who keeps a ward's shared address throttled cannot block the
 * clinicians behind it, and the answer never depends on the code before it is checked; once the budget
 * is spent, THROTTLED, without checking. Nothing is written: a flood of guesses from one address adds no
 * database rows, and an account's own failures, pauses and hard stop are left to attempts that are counted.
 *
 * A fixed table of cells, each the time at which its budget is full again (GCRA), chosen by a keyed hash of
 * the key (the key is random at each start, so nobody can aim two names at one cell). No map with eviction:
 * a flood of made-up names would push a real account's spent budget out and so refill it (unlimited code
 * checks at that account), and evicting unknown names but not accounts would tell the two apart. Two keys
 * that share a cell share a budget: that can only spend it sooner, never refill it. In memory (one relay
 * process serves a data directory); a restart refills every budget.
 */
export class CodeCheckBudget {
  readonly #hashKey = randomBytes(32);
  /** Per cell: when its budget is full again (0: full now). */
  readonly #fullAt: Float64Array;

  constructor(
    /** One check comes back after this long. */
    private readonly intervalMs: number,
    /** Checks allowed at once, from a full budget. */
    private readonly burst: number,
    /** Cells (a power of two): 262,144 by default, 2 MiB, however many names are tried. */
    cells = 1 << 18,
  ) {
    if (!Number.isInteger(Math.log2(cells))) throw new Error('the number of cells must be a power of two');
    this.#fullAt = new Float64Array(cells);
  }

  /** Takes one check for `key` at `now`: undefined when taken, otherwise how many ms until one is left. */
  take(key: string, now: number): number | undefined {
    const cell = this.#cell(key);
    const fullAt = Math.max(this.#fullAt[cell] ?? 0, now);
    const early = fullAt - now - (this.burst - 1) * this.intervalMs;
    if (early > 0) return Math.ceil(early);
    this.#fullAt[cell] = fullAt + this.intervalMs;
    return undefined;
  }

  #cell(key: string): number {
    return createHmac('sha256', this.#hashKey).update(key).digest().readUInt32BE(0) & (this.#fullAt.length - 1);
  }
}
