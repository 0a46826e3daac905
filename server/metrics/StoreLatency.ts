/** Upper bounds (seconds) of the buckets: from a cached read (under 0.5 ms) to a stalled database. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

/** One line of the scrape: `<metricName>{labels} value` (what a prom-client Registry formats; the metric's name if none). */
export interface Sample {
  readonly metricName?: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
}

/** What a prom-client Registry asks of a metric it formats (RelayMetrics registers these in one when served). */
export interface ScrapedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator: string;
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }>;
  reset(): void;
}

/** The times of one store method's calls: a count per bucket (not cumulative: the scrape adds them up), sum and count. */
export class MethodTimes {
  readonly counts = new Float64Array(BUCKETS.length);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let bucket = 0;
    while (bucket < BUCKETS.length && seconds > (BUCKETS[bucket] ?? Infinity)) bucket++;
    if (bucket < BUCKETS.length) this.counts[bucket] = (this.counts[bucket] ?? 0) + 1;
    this.sum += seconds;
    this.count++;
  }
}

/**
 * `rounds_relay_store_seconds`, the histogram of store call times by method, kept in plain arrays and
 * turned into Prometheus's histogram form on scrape. On every store call of a busy relay, prom-client's
 * own Histogram cost ~0.4 µs an observation (it hashes the labels each time); this costs a few
 * comparisons. Registered in a prom-client Registry (RelayMetrics.registry) as any metric is: the registry asks it for its values.
 */
export class StoreLatency implements ScrapedMetric {
  readonly name = 'rounds_relay_store_seconds';
  readonly help = 'Time a call to the relay store took, by RelayStore method';
  readonly type = 'histogram';
  /** How a cluster registry would merge workers' values (prom-client's AggregatorRegistry). */
  readonly aggregator = 'sum';
  readonly #byMethod = new Map<string, MethodTimes>();

  /** The record of `method`'s calls (made on first use; callers keep it, so an observation looks nothing up). */
  of(method: string): MethodTimes {
    let times = this.#byMethod.get(method);
    if (!times) this.#byMethod.set(method, (times = new MethodTimes()));
    return times;
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values: Sample[] = [];
    for (const [method, times] of this.#byMethod) {
      let cumulative = 0;
      BUCKETS.forEach((le, i) => {
        cumulative += times.counts[i] ?? 0;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, method }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', method }, value: times.count });
      values.push({ metricName: `${this.name}_sum`, labels: { method }, value: times.sum });
      values.push({ metricName: `${this.name}_count`, labels: { method }, value: times.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#byMethod.clear();
  }
}
