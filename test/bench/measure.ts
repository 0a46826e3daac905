/** Shared benchmark plumbing: timing, result rows, the table and bench/results.json. */
export interface BenchRow {
  readonly suite: string;
  readonly name: string;
  readonly unit: string;
  readonly ours: number;
  /** The same operation with bare library calls, measured in the same run. */
  readonly bare?: number;
  /** ours/bare, expressed as a cost ratio (>1 means ours is slower), with the goal it is held to. */
  readonly ratio?: number;
  readonly goal?: string;
  /** Each run's figure where `ours` and `bare` are medians of several (in bench/results.json, not the table). */
  readonly runs?: { readonly ours: readonly number[]; readonly bare?: readonly number[] };
}

/**
 * Runs `op` `iterations` times per round for `rounds` rounds (after one warm-up round) and returns the
 * median rate in operations per second.
 */
export async function opsPerSecond(op: (i: number) => Promise<unknown> | unknown, iterations: number, rounds = 5): Promise<number> {
  let counter = 0;
  for (let i = 0; i < Math.max(1, Math.floor(iterations / 5)); i++) await op(counter++);
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await op(counter++);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rates.push(iterations / seconds);
  }
  return median(rates);
}

/**
 * Measures two implementations of the same operation in alternating rounds (ours, bare, ours, ...), so
 * that drift on a shared machine (frequency, other load, GC) hits both alike. Returns median rates.
 */
export async function compareRates(
  ours: (i: number) => Promise<unknown> | unknown,
  bare: (i: number) => Promise<unknown> | unknown,
  iterations: number,
  rounds = 5,
): Promise<[number, number]> {
  const rates: [number[], number[]] = [[], []];
  const counters = [0, 0];
  const ops = [ours, bare];
  for (let r = -1; r < rounds; r++) {
    for (const which of [0, 1] as const) {
      const op = ops[which]!;
      const start = process.hrtime.bigint();
      for (let i = 0; i < iterations; i++) await op(counters[which]!++);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (r >= 0) rates[which].push(iterations / seconds);
    }
  }
  return [median(rates[0]), median(rates[1])];
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A throughput pair: the cost ratio is bare rate / our rate. */
export function rateRow(suite: string, name: string, ours: number, bare: number, goal: string): BenchRow {
  return { suite, name, unit: 'ops/s', ours, bare, ratio: bare / ours, goal };
}

export function printTable(rows: readonly BenchRow[]): void {
  const fmt = (n: number | undefined, digits = 0) => (n === undefined ? '' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
  const table = rows.map((r) => ({
    suite: r.suite,
    benchmark: r.name,
    unit: r.unit,
    ours: fmt(r.ours, r.ours < 100 ? 2 : 0),
    bare: fmt(r.bare, r.bare !== undefined && r.bare < 100 ? 2 : 0),
    'ours/bare cost': r.ratio === undefined ? '' : fmt(r.ratio, 2),
    goal: r.goal ?? '',
  }));
  console.table(table);
}
