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
 * The relay's rate limits (sending, prekey bundle fetches). The state lives in memory: one relay process
 * serves a data directory (relay.lock), so its buckets are all there are; a later issue moves them next to
 * the store (PostgreSQL) for relays that share a database. A restart forgets them, which only ever lets a
 * device through sooner, never later.
 */
export interface RateLimiter {
  /** Takes every charge if all of them fit; otherwise none, and says which bucket refused and when it will have room. */
  take(charges: readonly RateCharge[], now: number): RateDecision;
  /** Forgets buckets that have filled up again (a full bucket behaves exactly like an absent one). */
  prune(now: number): void;
}

interface Bucket {
  tokens: number;
  at: number;
  readonly limit: RateLimit;
}

export class InMemoryRateLimiter implements RateLimiter {
  readonly #buckets = new Map<string, Bucket>();

  take(charges: readonly RateCharge[], now: number): RateDecision {
    const buckets = charges.map((charge) => ({ charge, bucket: this.#refilled(charge.key, charge.limit, now) }));
    for (const { charge, bucket } of buckets) {
      // A single request larger than a whole window would never fit: it may empty the bucket instead.
      const cost = Math.min(charge.cost, charge.limit.amount);
      if (bucket.tokens < cost) {
        const retryAfterMs = Math.max(1, Math.ceil(((cost - bucket.tokens) * charge.limit.windowMs) / charge.limit.amount));
        return { ok: false, key: charge.key, retryAfterMs };
      }
    }
    for (const { charge, bucket } of buckets) {
      bucket.tokens -= Math.min(charge.cost, charge.limit.amount);
      this.#buckets.set(charge.key, bucket);
    }
    return { ok: true };
  }

  prune(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (this.#refilled(key, bucket.limit, now).tokens >= bucket.limit.amount) this.#buckets.delete(key);
    }
  }

  /** The bucket as it stands at `now` (a new one is full). */
  #refilled(key: string, limit: RateLimit, now: number): Bucket {
    const bucket = this.#buckets.get(key);
    if (!bucket) return { tokens: limit.amount, at: now, limit };
    const elapsed = Math.max(0, now - bucket.at);
    bucket.tokens = Math.min(limit.amount, bucket.tokens + (elapsed * limit.amount) / limit.windowMs);
    bucket.at = now;
    return bucket;
  }
}
