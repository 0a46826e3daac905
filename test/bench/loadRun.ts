/**
 * What the relay benchmark's runs need from a server under test (the Rounds relay or Prosody), and the
 * bookkeeping they share: send times, latency percentiles, waiting for the last delivery.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

/**
 * After the last send a run waits for every delivery (a server that fell behind needs time to catch up),
 * but fails if nothing arrives for DRAIN_STALL_MS or the wait exceeds DRAIN_MAX_MS.
 */
const DRAIN_STALL_MS = 10_000;
export const DRAIN_MAX_MS = 30_000;

/** The server answered a socket's upgrade with an HTTP status instead (the relay: 503 RELAY_BUSY while it sheds, with Retry-After). */
export class RefusedSocket extends Error {
  constructor(readonly status: number, readonly retryAfterSeconds: number | undefined) {
    super(`server refused the socket: ${status}${retryAfterSeconds === undefined ? '' : `, Retry-After ${retryAfterSeconds} s`}`);
    this.name = 'RefusedSocket';
  }
}

/** How long a client that was told Retry-After waits, as the app's RelayLink does: that long plus up to half again. */
export function retryAfterWaitMs(retryAfterSeconds: number, random: () => number = Math.random): number {
  return retryAfterSeconds * 1000 * (1 + random() * 0.5);
}

/** One connected device of the load client. Devices are named by index: 0 .. the system's device count - 1. */
export interface BenchClient {
  /** Called with the id of each message that arrives (duplicates included) and the time it arrived. */
  onMessage: (id: string, arrivedAt: number) => void;
  /** Refusals, stream errors, unexpected closes: a run with any of them fails. */
  readonly errors: readonly string[];
  /** Sends one message with this id to device `to`. */
  send(id: string, to: number): void;
  terminate(): void;
}

/** One fresh server process on core 0, its accounts made before it started. */
export interface ServerUnderTest {
  readonly pid: number;
  /** Rejects if the process exits before `stop`, with the end of its error output. */
  readonly exited: Promise<never>;
  /**
   * Connects device `index`, which reports arrivals to `onMessage` from the start; resolves once it is
   * online (the relay: its queue pushed; Prosody: presence sent).
   */
  connect(index: number, onMessage?: (id: string, arrivedAt: number) => void): Promise<BenchClient>;
  /** Sends `count` messages from `from` to device `to` (not connected), resolving once the server has stored every one. */
  storeOffline(from: BenchClient, to: number, count: number): Promise<void>;
  /**
   * A server of several processes (relay instances and PostgreSQL): the CPU time (user + system, ms) each
   * component has used so far, by name. Without it, the server is process `pid` alone.
   */
  cpuMsByComponent?(): Readonly<Record<string, number>>;
  /** Other running totals worth dividing by the messages of a run (PostgreSQL: transactions, WAL bytes, round trips). */
  counters?(): Promise<Readonly<Record<string, number>>>;
  stop(): Promise<void>;
}

/** A chat server the benchmark runs: the same shapes, the same load client, its own wire protocol. */
export interface BenchSystem {
  /** `rounds` or `prosody`: a label in logs and results. */
  readonly name: string;
  /** The accounts it has: devices 0 .. deviceCount - 1. */
  readonly deviceCount: number;
  start(): Promise<ServerUnderTest>;
  /** Removes its templates (data directories with the accounts). */
  dispose(): void;
}

export interface LatencyRun {
  /** Deliveries per second while measuring. */
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
}

/** Send times by message id; latencies of messages sent while measuring; the delivery rate meanwhile. */
export class LatencyTracker {
  readonly #sentAt = new Map<string, { at: number; measured: boolean }>();
  readonly #latencies: number[] = [];
  #measureStart = 0;
  #delivered = 0;
  #arrivals = 0;
  measuring = false;

  /** Messages that have arrived since the tracker was made (duplicates not counted). */
  get arrivals(): number {
    return this.#arrivals;
  }

  startMeasuring(): void {
    this.measuring = true;
    this.#measureStart = performance.now();
  }

  send(from: BenchClient, to: number): void {
    const id = randomUUID();
    this.#sentAt.set(id, { at: performance.now(), measured: this.measuring });
    from.send(id, to);
  }

  /** Records a delivery; false for a duplicate (the relay delivers at least once) or an unknown id. */
  arrived(id: string, at: number): boolean {
    const sent = this.#sentAt.get(id);
    if (!sent) return false;
    this.#sentAt.delete(id);
    this.#arrivals++;
    if (this.measuring) this.#delivered++;
    if (sent.measured) this.#latencies.push(at - sent.at);
    return true;
  }

  /** Waits until everything sent has arrived; throws when deliveries stall or take too long. */
  async drained(): Promise<void> {
    const start = performance.now();
    let missing = this.#sentAt.size;
    let progressAt = start;
    while (this.#sentAt.size > 0) {
      const now = performance.now();
      if (this.#sentAt.size < missing) [missing, progressAt] = [this.#sentAt.size, now];
      if (now - progressAt > DRAIN_STALL_MS || now - start > DRAIN_MAX_MS) throw new Error(`${missing} messages not delivered ${Math.round(now - start)} ms after the run`);
      await sleep(10);
    }
  }

  /** Delivered messages per second since measuring began, and the latency percentiles. */
  result(): LatencyRun {
    const seconds = (performance.now() - this.#measureStart) / 1000;
    const sorted = Float64Array.from(this.#latencies).sort();
    return { rate: this.#delivered / seconds, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
  }
}

/** Fails the run with `what` if `promise` has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

/** `keepAlive: false` lets the process exit while the timer is pending. */
export function sleep(ms: number, keepAlive = true): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (!keepAlive) timer.unref();
  });
}
