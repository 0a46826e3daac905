import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { withDeadline } from '../http/Readiness';
import { throttleReason } from '../auth/LoginThrottle';
import type { RelayFailure } from '../RelayFailure';
import { StoreLatency } from './StoreLatency';

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

/**
 * The relay's Prometheus metrics, in a registry of its own (several relays may run in one process, as
 * in the tests). Counters cost an addition; the gauges are read on scrape. Label values are bounded:
 * store method names, sign-in steps and relay error codes, never ids, names or addresses.
 */
export class RelayMetrics {
  readonly registry = new Registry();
  readonly envelopes: EnvelopeCounts;
  /** Seconds each RelayStore method took, by method (TimedRelayStore observes them). */
  readonly storeSeconds = new StoreLatency(this.registry);

  readonly #throttled = new Counter({
    name: 'rounds_relay_sign_ins_throttled_total',
    help: 'Sign-in attempts answered THROTTLED, by step and by what must wait (account, address, workstation, enrollment, emergency-address, code-check-budget...)',
    labelNames: ['step', 'reason'] as const, registers: [this.registry],
  });

  readonly #refused = new Counter({
    name: 'rounds_relay_sign_ins_refused_total',
    help: 'Sign-in attempts refused otherwise, by step and reason (the error code: invalid_credentials, invalid_code, account_locked, relay_storage_full...)',
    labelNames: ['step', 'reason'] as const, registers: [this.registry],
  });

  #processMetrics = false;

  constructor(gauges: RelayGauges) {
    const accepted = new Counter({ name: 'rounds_relay_envelopes_accepted_total', help: 'Envelopes newly queued for a recipient device by a send', registers: [this.registry] });
    const delivered = new Counter({
      name: 'rounds_relay_envelopes_delivered_total', help: 'Envelopes acknowledged by their recipient device (and so removed from its queue)', registers: [this.registry],
    });
    this.envelopes = { accepted: (count) => accepted.inc(count), delivered: (count) => delivered.inc(count) };
    new Gauge({
      name: 'rounds_relay_connected_devices', help: 'Devices holding a WebSocket to this relay instance', registers: [this.registry],
      collect() {
        this.set(gauges.connectedDevices());
      },
    });
    new Gauge({
      name: 'rounds_relay_queued_envelopes', help: 'Envelopes waiting in every queue of the store (all instances sharing it)', registers: [this.registry],
      async collect() {
        const late = new Error('queue count late');
        try {
          this.set(await withDeadline(gauges.queuedEnvelopes(), QUEUE_COUNT_TIMEOUT_MS, late));
        } catch {
          // The store is closed, failing or stalled: the gauge keeps its last value (/readyz says why).
        }
      },
    });
  }

  /** Counts a sign-in the relay refused: THROTTLED as throttled, any other relay error as refused by its code. */
  signInRefused(step: SignInStep, failure: RelayFailure): void {
    if (failure.code === 'THROTTLED') this.#throttled.inc({ step, reason: throttleReason(failure) ?? 'other' });
    else this.#refused.inc({ step, reason: failure.code.toLowerCase() });
  }

  /** Adds prom-client's process metrics (CPU, memory, event loop lag, GC, handles), once: only a relay that serves metrics pays for them. */
  withProcessMetrics(): this {
    if (!this.#processMetrics) collectDefaultMetrics({ register: this.registry });
    this.#processMetrics = true;
    return this;
  }
}
