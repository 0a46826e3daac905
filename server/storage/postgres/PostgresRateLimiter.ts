/**
 * The relay's rate limits in the PostgreSQL database every relay instance shares (issue 17): a device
 * spreading its requests over the instances behind the load balancer meets one set of buckets, not one per
 * instance. Same semantics as InMemoryRateLimiter (the contract suite runs both): every charge or none, the
 * first refusing bucket and when it has room, a request bigger than a window may empty a full bucket.
 *
 * Each take is one statement (rate_buckets_take, migration 0002), so one round trip and its own
 * transaction: it locks the request's buckets in key order, so concurrent takes through any instances are
 * serialised per bucket and never deadlock. Prune skips the buckets a take holds instead of waiting.
 * Bucket keys name devices and accounts by id, never anything secret.
 */
import { chargesByKey, retryAfterMs, type RateCharge, type RateDecision, type RateLimiter } from '../../RateLimiter';
import type { PostgresDatabase } from './PostgresDatabase';

export class PostgresRateLimiter implements RateLimiter {
  constructor(private readonly database: PostgresDatabase) {}

  async take(charges: readonly RateCharge[], now: number): Promise<RateDecision> {
    const applied = chargesByKey(charges);
    if (applied.length === 0) return { ok: true };
    const { rows } = await this.database.query<{ refused_key: string; refused_tokens: number }>(
      'SELECT refused_key, refused_tokens FROM rate_buckets_take($1, $2, $3, $4, $5)',
      [applied.map((c) => c.key), applied.map((c) => c.cost), applied.map((c) => c.limit.amount), applied.map((c) => c.limit.windowMs), now],
    );
    const refused = rows[0];
    if (!refused) return { ok: true };
    const charge = applied.find((c) => c.key === refused.refused_key);
    if (!charge) throw new Error(`the database refused a rate bucket this request did not charge: ${refused.refused_key}`);
    return { ok: false, key: charge.key, retryAfterMs: retryAfterMs(charge.cost, refused.refused_tokens, charge.limit) };
  }

  async prune(now: number): Promise<void> {
    // The same refill as rate_buckets_take; SKIP LOCKED: a bucket a take holds is in use, not worth waiting for.
    await this.database.query(
      `DELETE FROM rate_buckets WHERE key IN (
         SELECT key FROM rate_buckets
         WHERE least(amount, tokens + (greatest(0, $1 - refilled_at) * amount) / window_ms) >= amount
         ORDER BY key FOR UPDATE SKIP LOCKED)`,
      [now],
    );
  }
}
