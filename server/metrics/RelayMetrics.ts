import type { Metric, Registry } from 'prom-client';
import { withDeadline } from '../http/Readiness';
import { throttleReason } from '../auth/LoginThrottle';
import type { RelayFailure } from '../RelayFailure';
import { StoreLatency, type ScrapedMetric, type Sample } from './StoreLatency';

/** How long a scrape waits for the store's count of queued envelopes (a stalled database leaves the last one). */
const QUEUE_COUNT_TIMEOUT_MS = 2000;

/** What the message service counts as envelopes come and go (RelayMetrics's counters; nothing in tests that do not ask). */
export interface EnvelopeCounts {
  /** Envelopes newly queued by a send (a resend of one already queued is not counted again). */
  accepted(count: number): void;
  /** Envelopes their recipient device acknowledged, so removed from its queue. */
  delivered(count: number): void;
}

/** Which sign-in a refusal answered: enrollment (both steps), password + code, an emergency code, or single sign-on (both steps). */
export type SignInStep = 'enrollment' | 'sign-in' | 'emergency' | 'sso';

/** What the metrics read when scraped: how many devices hold a socket, how many envelopes wait in all queues. */
export interface RelayGauges {
  readonly connectedDevices: () => number;
  readonly queuedEnvelopes: () => Promise<number>;
}

/** A metric read from the relay's own figures when scraped, registered in a prom-client Registry as any metric is. */
class ReadOnScrape implements ScrapedMetric {
  readonly aggregator = 'sum';
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge', readonly read: () => Sample[] | Promise<Sample[]>) {}

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: await this.read() };
  }

  reset(): void {
    // The figures are the relay's: a scrape does not reset them.
  }
}

/** Counts by a step and a reason (sign-ins throttled or refused). */
class StepReasonCounts {
  readonly #counts = new Map<string, { labels: { step: SignInStep; reason: string }; value: number }>();

  add(step: SignInStep, reason: string): void {
    const key = `${step}\u0000${reason}`;
    const entry = this.#counts.get(key);
    if (entry) entry.value++;
    else this.#counts.set(key, { labels: { step, reason }, value: 1 });
  }

  samples(): Sample[] {
    return [...this.#counts.values()].map(({ labels, value }) => ({ labels, value }));
  }
}

/**
 * The relay's Prometheus metrics. The relay counts in plain numbers whether or not anyone scrapes (a counter
 * costs an addition); prom-client, which formats them, is loaded only by a relay that serves them
 * (`registry()`, from `serve --metrics-port`), so one that does not never holds it. Each relay has a registry of
 * its own (several relays may run in one process, as in the tests); the gauges are read on scrape. Label values are
 * bounded: store method names, sign-in steps and relay error codes, never ids, names or addresses.
 */
export class RelayMetrics {
  readonly envelopes: EnvelopeCounts;
  /** Seconds each RelayStore method took, by method (TimedRelayStore observes them). */
  readonly storeSeconds = new StoreLatency();
  readonly #throttled = new StepReasonCounts();
  readonly #refused = new StepReasonCounts();
  readonly #metrics: ScrapedMetric[];
  #registry: Promise<Registry> | undefined;

  constructor(gauges: RelayGauges) {
    let accepted = 0;
    let delivered = 0;
    this.envelopes = { accepted: (count) => void (accepted += count), delivered: (count) => void (delivered += count) };
    let queued = 0;
    this.#metrics = [
      new ReadOnScrape('rounds_relay_envelopes_accepted_total', 'Envelopes newly queued for a recipient device by a send', 'counter', () => [{ labels: {}, value: accepted }]),
      new ReadOnScrape('rounds_relay_envelopes_delivered_total', 'Envelopes acknowledged by their recipient device (and so removed from its queue)', 'counter', () => [{ labels: {}, value: delivered }]),
      new ReadOnScrape('rounds_relay_connected_devices', 'Devices holding a WebSocket to this relay instance', 'gauge', () => [{ labels: {}, value: gauges.connectedDevices() }]),
      new ReadOnScrape('rounds_relay_queued_envelopes', 'Envelopes waiting in every queue of the store (all instances sharing it)', 'gauge', async () => {
        try {
          queued = await withDeadline(gauges.queuedEnvelopes(), QUEUE_COUNT_TIMEOUT_MS, new Error('queue count late'));
        } catch {
          // The store is closed, failing or stalled: the gauge keeps its last value (/readyz says why).
        }
        return [{ labels: {}, value: queued }];
      }),
      new ReadOnScrape(
        'rounds_relay_sign_ins_throttled_total', 'Sign-in attempts answered THROTTLED, by step and by what must wait (account, address, workstation, enrollment, emergency-address, code-check-budget...)',
        'counter', () => this.#throttled.samples(),
      ),
      new ReadOnScrape(
        'rounds_relay_sign_ins_refused_total', 'Sign-in attempts refused otherwise, by step and reason (the error code: invalid_credentials, invalid_code, account_locked, relay_storage_full...)',
        'counter', () => this.#refused.samples(),
      ),
      this.storeSeconds,
    ];
  }

  /** Counts a sign-in the relay refused: THROTTLED as throttled, any other relay error as refused by its code. */
  signInRefused(step: SignInStep, failure: RelayFailure): void {
    if (failure.code === 'THROTTLED') this.#throttled.add(step, throttleReason(failure) ?? 'other');
    else this.#refused.add(step, failure.code.toLowerCase());
  }

  /**
   * The registry to serve: prom-client loaded (once), the relay's metrics in it, and prom-client's process metrics
   * (CPU, memory, event loop lag, GC, handles), which only a relay that serves metrics pays for.
   */
  registry(): Promise<Registry> {
    this.#registry ??= import('prom-client').then(({ Registry, collectDefaultMetrics }) => {
      const registry = new Registry();
      for (const metric of this.#metrics) registry.registerMetric(metric as unknown as Metric);
      collectDefaultMetrics({ register: registry });
      return registry;
    });
    return this.#registry;
  }
}
