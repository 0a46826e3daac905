import { describe, expect, it } from 'vitest';
import { virtualScheduler } from '../../../test/fixtures/virtualScheduler';
import { RelayRequestError } from './RelayClient';
import { RelayLink, type LinkConnection } from './RelayLink';

/** Lets the promises of one connection attempt settle (the link's own work is asynchronous). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** Starts the link and lets `steps` steps of 500 ms of virtual time pass, the attempts settling after each. */
async function runLink(time: { advance(ms: number): void }, relayLink: { start(): void }, steps: number): Promise<void> {
  relayLink.start();
  await settle();
  for (let i = 0; i < steps; i++) {
    time.advance(500);
    await settle();
  }
}

/** `refusal`: what each failed attempt throws (an unreachable relay by default). */
function link(options: { failures: number; refusal?: () => Error; random?: () => number }) {
  const time = virtualScheduler(0);
  const attempts: number[] = [];
  const states: string[] = [];
  let drop: (() => void) | undefined;
  const connection: LinkConnection & { open: boolean } = { open: true, close: async () => undefined };
  const relayLink = new RelayLink({
    scheduler: time,
    backoff: { firstMs: 1000, maxMs: 4000 },
    random: options.random ?? (() => 0.5), // no jitter: the waits are exactly the back-off
    connect: async (onClose) => {
      attempts.push(time.now());
      if (attempts.length <= options.failures) throw options.refusal?.() ?? new Error('relay unreachable');
      drop = onClose;
      return connection;
    },
    onState: (state) => states.push(state),
    onOpen: () => undefined,
  });
  return { time, attempts, states, relayLink, drop: () => drop?.() };
}

describe('reconnecting to the relay', () => {
  it('waits twice as long after each failure, up to the longest wait, in virtual time', async () => {
    const { time, attempts, relayLink } = link({ failures: 4 });
    await runLink(time, relayLink, 30);
    expect(attempts).toEqual([0, 1000, 3000, 7000, 11_000]);
    expect(relayLink.online).toBe(true);
    await relayLink.stop();
  });

  it('starts from the first wait again once a connection opened', async () => {
    const { time, attempts, states, relayLink, drop } = link({ failures: 2 });
    await runLink(time, relayLink, 10);
    expect(attempts).toEqual([0, 1000, 3000]);
    drop();
    expect(states.at(-1)).toBe('offline');
    time.advance(999);
    await settle();
    expect(attempts).toHaveLength(3);
    time.advance(1);
    await settle();
    expect(attempts).toEqual([0, 1000, 3000, 6000]); // dropped at 5000: the first wait again
    expect(states).toEqual(['connecting', 'offline', 'connecting', 'offline', 'connecting', 'online', 'offline', 'connecting', 'online']);
    await relayLink.stop();
  });

  it('waits at least as long as a busy relay says before trying again, with jitter on top', async () => {
    const busy = () => new RelayRequestError('RELAY_BUSY', 'the relay is busy', 503, { retryAfterSeconds: 5, retryAfterMs: 5000 });
    const { time, attempts, relayLink } = link({ failures: 2, refusal: busy });
    await runLink(time, relayLink, 40);
    // Retry-After 5 s, plus a quarter of it (random 0.5 of up to half): well past the 1 s and 2 s back-offs
    // (each wait starts when the refusal settled, up to one 500 ms step after the attempt).
    expect(attempts).toHaveLength(3);
    expect(attempts[1]).toBe(6250);
    expect(attempts[2]! - attempts[1]!).toBeGreaterThanOrEqual(6250);
    expect(attempts[2]! - attempts[1]!).toBeLessThan(6250 + 500);
    expect(relayLink.online).toBe(true);
    await relayLink.stop();
  });

  it('spreads the workstations a busy relay turned away over Retry-After to one and a half times it', async () => {
    const waits = await Promise.all([0, 0.5, 0.999].map(async (jitter) => {
      const { time, attempts, relayLink } = link({ failures: 1, random: () => jitter, refusal: () => new RelayRequestError('RELAY_BUSY', 'busy', 503, { retryAfterMs: 10_000 }) });
      await runLink(time, relayLink, 40);
      await relayLink.stop();
      return attempts[1];
    }));
    expect(waits).toEqual([10_000, 12_500, 14_995]);
  });

  it('waits at least its first back-off when the relay asks for less, and does not double it for a refusal with Retry-After', async () => {
    const { time, attempts, relayLink } = link({ failures: 3, refusal: () => new RelayRequestError('RELAY_BUSY', 'busy', 503, { retryAfterMs: 100 }) });
    await runLink(time, relayLink, 30);
    expect(attempts).toEqual([0, 1000, 2000, 3000]);
    await relayLink.stop();
  });

  it('comes back when a busy relay said, however often it was turned away before', async () => {
    const { time, attempts, relayLink } = link({ failures: 6, refusal: () => new RelayRequestError('RELAY_BUSY', 'busy', 503, { retryAfterMs: 2000 }) });
    await runLink(time, relayLink, 60);
    // 2 s plus a quarter, each time: no 32 s wait after five refusals, as doubling would give.
    expect(attempts).toHaveLength(7);
    expect(attempts.at(-1)).toBeLessThanOrEqual(6 * (2500 + 500));
    await relayLink.stop();
  });

  it('tries no more after stop', async () => {
    const { time, attempts, relayLink } = link({ failures: 100 });
    relayLink.start();
    await settle();
    await relayLink.stop();
    time.advance(60_000);
    await settle();
    expect(attempts).toEqual([0]);
  });

  it('closes a connection whose first steps failed before trying again, so no socket is left open beside the next', async () => {
    const time = virtualScheduler(0);
    const opened: { open: boolean; close(): Promise<void> }[] = [];
    let fails = 2;
    const link = new RelayLink({
      scheduler: time, backoff: { firstMs: 100, maxMs: 400 }, random: () => 0.5,
      connect: async () => {
        const c = { open: true, close: async () => { c.open = false; } };
        opened.push(c);
        return c;
      },
      onState: () => undefined,
      onOpen: () => {
        if (fails-- > 0) throw new Error('key upload refused');
      },
    });
    link.start();
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setImmediate(r));
      time.advance(200);
    }
    expect(opened).toHaveLength(3);
    expect(opened.filter((c) => c.open)).toHaveLength(1);
    await link.stop();
    expect(opened.filter((c) => c.open)).toHaveLength(0);
  });
});
