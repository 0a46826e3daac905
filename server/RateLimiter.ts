/** `amount` per `windowMs`, as a token bucket that holds one window's worth: a burst of `amount`, then refilled evenly. */
export interface RateLimit {
  readonly amount: number;
  readonly windowMs: number;
}

/** What one request costs in one bucket (`key` names the bucket: what is limited, and for whom). */
export interface RateCharge {
  readonly key: string;
  readonly cost: number;
  readonly limit: RateLimit;
}

export type RateDecision = { readonly ok: true } | { readonly ok: false; readonly key: string; readonly retryAfterMs: number };

/**
 * The relay's rate limits (sending, prekey bundle fetches, key uploads). InMemoryRateLimiter serves a relay
 * that is alone on its data (relay.lock); relays sharing a PostgreSQL database share their buckets there
 * (PostgresRateLimiter), so that a device cannot multiply its allowance by spreading its requests over
 * instances. Forgetting a bucket only ever lets a device through sooner, never later.
 */
export interface RateLimiter {
  /**
   * Takes every charge if all of them fit; otherwise none, and says which bucket refused (the first in the
   * order given) and when it will have room. Charges to the same key add up.
   */
  take(charges: readonly RateCharge[], now: number): Promise<RateDecision>;
  /** Forgets buckets that have filled up again (a full bucket behaves exactly like an absent one). */
  prune(now: number): Promise<void>;
}

/** A charge the limiter cannot apply (a bug in the relay's limits, never a client's doing). */
export class RateChargeError extends Error {
  readonly code = 'BAD_RATE_CHARGE';
}

/**
 * The charges as a limiter applies them: checked, one per key (costs to the same key added, the first
 * charge's limit), each cost at most a window's worth: a single request larger than a whole window would
 * never fit, so it may empty the bucket instead.
 */
export function chargesByKey(charges: readonly RateCharge[]): RateCharge[] {
  const byKey = new Map<string, RateCharge>();
  for (const charge of charges) {
    const { key, cost, limit } = charge;
    if (typeof key !== 'string' || key === '') throw new RateChargeError('a rate charge needs a bucket key');
    if (!(Number.isFinite(cost) && cost >= 0)) throw new RateChargeError(`rate charge ${key}: the cost must be a finite number >= 0, not ${cost}`);
    if (!(Number.isFinite(limit.amount) && limit.amount > 0 && Number.isFinite(limit.windowMs) && limit.windowMs > 0)) {
      throw new RateChargeError(`rate charge ${key}: the limit needs an amount and a window above 0, not ${limit.amount} per ${limit.windowMs} ms`);
    }
    const earlier = byKey.get(key);
    byKey.set(key, earlier ? { ...earlier, cost: earlier.cost + cost } : charge);
  }
  return [...byKey.values()].map((charge) => ({ ...charge, cost: Math.min(charge.cost, charge.limit.amount) }));
}

/** The tokens of a bucket that held `tokens` at `at`, refilled until `now` (a clock behind `at` refills nothing). */
export function refilledTokens(tokens: number, at: number, limit: RateLimit, now: number): number {
  return Math.min(limit.amount, tokens + (Math.max(0, now - at) * limit.amount) / limit.windowMs);
}

/** How long until a bucket holding `tokens` has room for `cost` (at least 1 ms). */
export function retryAfterMs(cost: number, tokens: number, limit: RateLimit): number {
  return Math.max(1, Math.ceil(((cost - tokens) * limit.windowMs) / limit.amount));
}

/** A bucket as a limiter holds it: `tokens` as of `at`, refilled under the limit of its last charge. */
export interface RateBucket {
  tokens: number;
  at: number;
  limit: RateLimit;
}

/**
 * Decides one request against `buckets` (one arithmetic for every limiter): each charged bucket refilled to
 * `now` under its charge's limit (a missing one is full), then every charge taken or none, the first
 * refusing one named. `charges` as chargesByKey gives them. A bucket is added to `buckets` when charged.
 */
export function takeFromBuckets(buckets: Map<string, RateBucket>, charges: readonly RateCharge[], now: number): RateDecision {
  const refilled = charges.map((charge) => ({ charge, bucket: refillBucket(buckets.get(charge.key), charge.limit, now) }));
  for (const { charge, bucket } of refilled) {
    if (bucket.tokens < charge.cost) return { ok: false, key: charge.key, retryAfterMs: retryAfterMs(charge.cost, bucket.tokens, charge.limit) };
  }
  for (const { charge, bucket } of refilled) {
    bucket.tokens -= charge.cost;
    buckets.set(charge.key, bucket);
  }
  return { ok: true };
}

/** The bucket as it stands at `now` under `limit` (a new one is full). */
function refillBucket(bucket: RateBucket | undefined, limit: RateLimit, now: number): RateBucket {
  if (!bucket) return { tokens: limit.amount, at: now, limit };
  bucket.tokens = refilledTokens(bucket.tokens, bucket.at, limit, now);
  bucket.at = Math.max(bucket.at, now);
  bucket.limit = limit;
  return bucket;
}

export class InMemoryRateLimiter implements RateLimiter {
  readonly #buckets = new Map<string, RateBucket>();

  /** How many buckets are held (the full ones that prune has not forgotten yet included). */
  get bucketCount(): number {
    return this.#buckets.size;
  }

  async take(charges: readonly RateCharge[], now: number): Promise<RateDecision> {
    return takeFromBuckets(this.#buckets, chargesByKey(charges), now);
  }

  async prune(now: number): Promise<void> {
    for (const [key, bucket] of this.#buckets) {
      if (refillBucket(bucket, bucket.limit, now).tokens >= bucket.limit.amount) this.#buckets.delete(key);
    }
  }
}
