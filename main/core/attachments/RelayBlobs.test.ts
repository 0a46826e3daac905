import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { realScheduler } from '../Clock';
import { RelayClient } from '../messaging/RelayClient';
import { LIMITS_REFRESH_MS, LIMITS_RETRY_MS, LIMITS_WAIT_MS, RelayBlobs } from './RelayBlobs';

/*
 * The relay's blob limit as attaching a file and the viewer ask for it (issue 20): a network that connects but does
 * not carry must not hold an attach (or the viewer's Save and Copy) for a minute, and a relay whose limit changes
 * is heard within the hour. A real HTTP server on loopback plays the relay; the clock is the test's.
 */
describe('the relay blob limit as the workstation learns it', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  /** A relay answering `/v1/blobs/limits` with `max()` (or never, when it gives undefined); how often it was asked. */
  async function relay(max: () => number | undefined) {
    const asked = { count: 0 };
    server = createServer((request, response) => {
      asked.count++;
      const value = max();
      if (value === undefined) return;
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ maxBlobBytes: value, chunkBytes: 1024 * 1024 }));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const clock = { now: 1_000_000 };
    const blobs = new RelayBlobs(new RelayClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`), { ...realScheduler, now: () => clock.now });
    return { asked, clock, blobs };
  }

  const timed = async <T>(work: () => Promise<T>) => {
    const started = performance.now();
    const value = await work();
    return { value, ms: performance.now() - started };
  };

  it('waits at most about 1.5 s for a relay that does not answer, then does not wait again for a while', async () => {
    const { asked, clock, blobs } = await relay(() => undefined);
    const first = await timed(() => blobs.limits());
    expect(first.value).toBeUndefined();
    expect(first.ms).toBeGreaterThanOrEqual(LIMITS_WAIT_MS - 50);
    expect(first.ms).toBeLessThan(LIMITS_WAIT_MS + 1_000);
    // The next attach goes on at once: the failure is remembered.
    const second = await timed(() => blobs.limits());
    expect(second.value).toBeUndefined();
    expect(second.ms).toBeLessThan(200);
    expect(asked.count).toBe(1);
    clock.now += LIMITS_RETRY_MS;
    expect((await timed(() => blobs.limits())).ms).toBeGreaterThanOrEqual(LIMITS_WAIT_MS - 50);
  });

  it('keeps the limit it learnt, and learns a changed one within the hour without holding anyone up', async () => {
    let max = 100 * 1024 * 1024;
    const { asked, clock, blobs } = await relay(() => max);
    expect(await blobs.limits()).toMatchObject({ maxBlobBytes: max });
    clock.now += LIMITS_REFRESH_MS - 1;
    expect(await blobs.limits()).toMatchObject({ maxBlobBytes: 100 * 1024 * 1024 });
    expect(asked.count).toBe(1);
    max = 10 * 1024 * 1024;
    clock.now += 1;
    // The hour-old value answers at once; the new one is asked meanwhile.
    expect(await blobs.limits()).toMatchObject({ maxBlobBytes: 100 * 1024 * 1024 });
    await expect.poll(() => asked.count).toBe(2);
    await expect.poll(() => blobs.limits()).toMatchObject({ maxBlobBytes: max });
  });
});
