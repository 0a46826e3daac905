import { performance } from 'node:perf_hooks';

/**
 * How far behind the relay's event loop is right now, for ConnectAdmission: a timer every `intervalMs`,
 * and the lag is how overdue its next tick is. While the loop works through a long stretch (a burst of
 * thousands of connects handled in one turn) the lag grows with it, so the connects late in the stretch
 * are shed; the timer fires first thing in the next turn, so one long piece of work that is over (a
 * garbage collection, a large export) does not shed the connects that follow it. The timer never keeps
 * the process alive.
 */
export class EventLoopLag {
  #dueAt: number;
  readonly #timer: NodeJS.Timeout;

  constructor(private readonly intervalMs = 50) {
    this.#dueAt = performance.now() + intervalMs;
    this.#timer = setInterval(() => (this.#dueAt = performance.now() + this.intervalMs), intervalMs);
    this.#timer.unref();
  }

  /** ms the probe's tick is overdue (0 while the loop keeps up). */
  get lagMs(): number {
    return Math.max(0, performance.now() - this.#dueAt);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
