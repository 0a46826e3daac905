import { performance } from 'node:perf_hooks';

/**
 * How late the relay's event loop runs, for ConnectAdmission: a timer every `intervalMs` notes how late
 * it fired. While the loop is stuck in a long stretch of work the timer cannot fire at all, so the lag
 * read is also how overdue the next tick is right now: a relay busy with a flood of connects sees it
 * at once, not only after the flood. The timer never keeps the process alive.
 */
export class EventLoopLag {
  #expectedAt: number;
  #lastLagMs = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(private readonly intervalMs = 50) {
    this.#expectedAt = performance.now() + intervalMs;
    this.#timer = setInterval(() => this.#tick(), intervalMs);
    this.#timer.unref();
  }

  /** ms: the larger of how late the last tick came and how overdue the next one is. */
  get lagMs(): number {
    return Math.max(this.#lastLagMs, performance.now() - this.#expectedAt);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(): void {
    const now = performance.now();
    this.#lastLagMs = Math.max(0, now - this.#expectedAt);
    this.#expectedAt = now + this.intervalMs;
  }
}
