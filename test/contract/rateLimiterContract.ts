/**
 * What every RateLimiter promises, written once against the interface (issue 17: limits shared by the
 * relay instances). `rateLimiterContract(name, open)` registers the suite for a limiter: the in-memory one
 * runs it in server/RateLimiter.contract.test.ts, the PostgreSQL one in
 * server/storage/postgres/PostgresRateLimiter.contract.test.ts. What a device would notice: a burst, then a
 * refusal saying when to come back; a refill at the promised rate; a request refused as a whole; and no
 * more granted by spreading requests over instances than one instance would grant.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RateChargeError, type RateCharge, type RateLimit, type RateLimiter } from '../../server/RateLimiter';

/** A fresh limiter, and how to dispose of it (and of whatever holds its buckets) afterwards. */
export interface OpenedLimiter {
  readonly limiter: RateLimiter;
  /** Another limiter on the same buckets, as a second relay instance would have (the same one where buckets live in memory). */
  another(): Promise<RateLimiter>;
  /** How many buckets are held. */
  bucketCount(): Promise<number>;
  dispose(): Promise<void>;
}

const NOW = Date.UTC(2026, 11, 3, 9);
const MINUTE = 60_000;
/** Five a minute: one token every 12 s. */
const FIVE_A_MINUTE: RateLimit = { amount: 5, windowMs: MINUTE };

export function rateLimiterContract(name: string, open: () => Promise<OpenedLimiter>): void {
  describe(`RateLimiter contract: ${name}`, () => {
    let opened: OpenedLimiter;
    let limiter: RateLimiter;
    /** A bucket key of this test's own. */
    let bucket: (what: string) => string;
    const charge = (key: string, cost = 1, limit = FIVE_A_MINUTE): RateCharge => ({ key, cost, limit });
    /** Takes `charges` `times` times at `now`; how many were granted. */
    async function granted(times: number, charges: readonly RateCharge[], now = NOW): Promise<number> {
      let ok = 0;
      for (let i = 0; i < times; i++) if ((await limiter.take(charges, now)).ok) ok++;
      return ok;
    }

    beforeEach(async () => {
      opened = await open();
      limiter = opened.limiter;
      const test = randomUUID().slice(0, 8);
      bucket = (what) => `send ${test} ${what}`;
    });
    afterEach(async () => {
      await opened.dispose();
    });

    it('grants a burst of one window, then refuses naming the bucket and when it has room again', async () => {
      const alice = [charge(bucket('alice'))];
      expect(await granted(5, alice)).toBe(5);
      expect(await limiter.take(alice, NOW)).toEqual({ ok: false, key: bucket('alice'), retryAfterMs: 12_000 });
      expect(await limiter.take(alice, NOW + 11_999)).toEqual({ ok: false, key: bucket('alice'), retryAfterMs: 1 });
      expect(await limiter.take(alice, NOW + 12_000)).toEqual({ ok: true });
      expect((await limiter.take(alice, NOW + 12_000)).ok).toBe(false);
      // Another device's bucket is its own.
      expect(await granted(5, [charge(bucket('bob'))], NOW + 12_000)).toBe(5);
    });

    it('refills evenly over the window, never beyond one window', async () => {
      const alice = [charge(bucket('alice'))];
      expect(await granted(5, alice)).toBe(5);
      // Half a window later: two and a half tokens, so two requests.
      expect(await granted(3, alice, NOW + MINUTE / 2)).toBe(2);
      expect(await limiter.take(alice, NOW + MINUTE / 2)).toEqual({ ok: false, key: bucket('alice'), retryAfterMs: 6_000 });
      // An hour idle still buys only one burst.
      expect(await granted(8, alice, NOW + 60 * MINUTE)).toBe(5);
      // A clock behind the bucket's last refill refills nothing (relay instances' clocks differ a little).
      expect((await limiter.take(alice, NOW)).ok).toBe(false);
    });

    it('takes every charge of a request or none, and names the first bucket that refuses', async () => {
      const device = bucket('device');
      const account = bucket('account');
      expect(await granted(4, [charge(account)])).toBe(4);
      expect(await limiter.take([charge(device), charge(account, 2)], NOW)).toEqual({ ok: false, key: account, retryAfterMs: 12_000 });
      // The refused request took nothing from the device's bucket.
      expect(await granted(6, [charge(device)])).toBe(5);
      // Both short: the first charge given is the one named.
      expect(await limiter.take([charge(device), charge(account, 2)], NOW)).toEqual({ ok: false, key: device, retryAfterMs: 12_000 });
      // Twelve seconds on, the device has one token and the account two: the request fits, and takes from both.
      expect(await limiter.take([charge(account), charge(device)], NOW + 12_000)).toEqual({ ok: true });
      expect(await limiter.take([charge(account, 2)], NOW + 12_000)).toEqual({ ok: false, key: account, retryAfterMs: 12_000 });
      expect(await limiter.take([charge(device)], NOW + 12_000)).toEqual({ ok: false, key: device, retryAfterMs: 12_000 });
    });

    it('adds up charges to the same bucket', async () => {
      const alice = bucket('alice');
      expect(await granted(1, [charge(alice)])).toBe(1);
      expect(await limiter.take([charge(alice, 2), charge(alice, 3)], NOW)).toEqual({ ok: false, key: alice, retryAfterMs: 12_000 });
      expect(await limiter.take([charge(alice, 2), charge(alice, 2)], NOW)).toEqual({ ok: true });
      expect((await limiter.take([charge(alice)], NOW)).ok).toBe(false);
    });

    it('lets a single request bigger than a window empty a full bucket, and no more', async () => {
      const bulk = bucket('bytes');
      const limit: RateLimit = { amount: 1_000, windowMs: MINUTE };
      expect(await limiter.take([charge(bulk, 50_000, limit)], NOW)).toEqual({ ok: true });
      expect(await limiter.take([charge(bulk, 1, limit)], NOW)).toEqual({ ok: false, key: bulk, retryAfterMs: 60 });
      // Another one waits for the whole window, not for fifty.
      expect(await limiter.take([charge(bulk, 50_000, limit)], NOW)).toEqual({ ok: false, key: bulk, retryAfterMs: MINUTE });
      expect(await limiter.take([charge(bulk, 50_000, limit)], NOW + MINUTE)).toEqual({ ok: true });
    });

    it('prunes the buckets that are full again, and only those', async () => {
      const alice = [charge(bucket('alice'))];
      const bob = [charge(bucket('bob'))];
      expect(await granted(5, alice)).toBe(5);
      expect(await granted(5, bob, NOW + MINUTE / 2)).toBe(5);
      expect(await opened.bucketCount()).toBe(2);
      // A minute on, Alice's bucket is full again and forgotten; Bob's is half full and kept.
      await limiter.prune(NOW + MINUTE);
      expect(await opened.bucketCount()).toBe(1);
      expect(await granted(6, alice, NOW + MINUTE)).toBe(5);
      expect(await granted(6, bob, NOW + MINUTE)).toBe(2);
      await limiter.prune(NOW + 10 * MINUTE);
      expect(await opened.bucketCount()).toBe(0);
    });

    it('refuses a charge it cannot apply with a clear error', async () => {
      await expect(limiter.take([charge(bucket('a'), Number.NaN)], NOW)).rejects.toThrow(RateChargeError);
      await expect(limiter.take([charge(bucket('a'), 1, { amount: 0, windowMs: MINUTE })], NOW)).rejects.toThrow(/amount and a window above 0/);
      await expect(limiter.take([charge('')], NOW)).rejects.toThrow(/needs a bucket key/);
      expect(await limiter.take([], NOW)).toEqual({ ok: true });
    });

    it('decides requests made at once on one instance in the order they came, each at its own time', async () => {
      const shared = bucket('device');
      // Eight at once (a busy relay's turn): the first five fit; one made 12 s later has a token again.
      const decisions = await Promise.all([
        ...Array.from({ length: 7 }, (_, i) => limiter.take(i === 5 ? [charge(bucket('other')), charge(shared)] : [charge(shared)], NOW)),
        limiter.take([charge(shared)], NOW + 12_000),
      ]);
      expect(decisions.map((d) => d.ok)).toEqual([true, true, true, true, true, false, false, true]);
      // A refused request takes nothing, not even from the bucket that had room.
      expect(decisions[5]).toEqual({ ok: false, key: shared, retryAfterMs: 12_000 });
      expect(await granted(5, [charge(bucket('other'))], NOW + 12_000)).toBe(5);
    });

    it('grants no more to requests racing over two instances than one bucket holds', async () => {
      const other = await opened.another();
      const either = (i: number) => (i % 2 === 0 ? limiter : other);
      const shared = bucket('account');
      const limit: RateLimit = { amount: 10, windowMs: MINUTE };
      // Forty requests at once, each to the shared bucket and to a bucket of its own device, the pairs in
      // both orders (a limiter that locked buckets in the order given would deadlock here).
      const decisions = await Promise.all(Array.from({ length: 40 }, (_, i) => {
        const own = charge(bucket(`device ${i % 4}`), 1, limit);
        const charges = i % 3 === 0 ? [charge(shared, 1, limit), own] : [own, charge(shared, 1, limit)];
        return either(i).take(charges, NOW);
      }));
      expect(decisions.filter((d) => d.ok)).toHaveLength(10);
      for (const refused of decisions.filter((d) => !d.ok)) expect(refused).toEqual({ ok: false, key: shared, retryAfterMs: 6_000 });
      expect((await other.take([charge(shared, 1, limit)], NOW + 5_999)).ok).toBe(false);
      expect((await limiter.take([charge(shared, 1, limit)], NOW + 6_000)).ok).toBe(true);
    });
  });
}
