import { describe, expect, it } from 'vitest';
import { virtualScheduler } from '../../../test/fixtures/virtualScheduler';
import { RelayLink, type LinkConnection } from './RelayLink';

/** Lets the promises of one connection attempt settle (the link's own work is asynchronous). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

function link(options: { failures: number }) {
  const time = virtualScheduler(0);
  const attempts: number[] = [];
  const states: string[] = [];
  let drop: (() => void) | undefined;
  const connection: LinkConnection & { open: boolean } = { open: true, close: async () => undefined };
  const relayLink = new RelayLink({
    scheduler: time,
    backoff: { firstMs: 1000, maxMs: 4000 },
    random: () => 0.5, // no jitter: the waits are exactly the back-off
    connect: async (onClose) => {
      attempts.push(time.now());
      if (attempts.length <= options.failures) throw new Error('relay unreachable');
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
    relayLink.start();
    await settle();
    for (let i = 0; i < 30; i++) {
      time.advance(500);
      await settle();
    }
    expect(attempts).toEqual([0, 1000, 3000, 7000, 11_000]);
    expect(relayLink.online).toBe(true);
    await relayLink.stop();
  });

  it('starts from the first wait again once a connection opened', async () => {
    const { time, attempts, states, relayLink, drop } = link({ failures: 2 });
    relayLink.start();
    await settle();
    for (let i = 0; i < 10; i++) {
      time.advance(500);
      await settle();
    }
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
