import { describe, expect, it } from 'vitest';
import { EventLoopLag } from './EventLoopLag';

/** Keeps the event loop busy for `ms`, as a burst of connects handled in one turn does. */
function busyFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

describe('how far behind the event loop is', () => {
  it('grows while the loop is stuck and is back near zero once the loop has turned', async () => {
    const lag = new EventLoopLag(20);
    try {
      await new Promise((resolve) => setTimeout(resolve, 40));
      expect(lag.lagMs).toBeLessThan(100);
      busyFor(300);
      expect(lag.lagMs).toBeGreaterThanOrEqual(250);
      // The probe fires first thing in the next turn: work that is over sheds nothing after it.
      await new Promise((resolve) => setTimeout(resolve, 1));
      expect(lag.lagMs).toBeLessThan(100);
    } finally {
      lag.stop();
    }
  });
});
