/**
 * The relay's rate limits in the PostgreSQL database every relay instance shares (issue 17): a device
 * spreading its requests over the instances behind the load balancer meets one set of buckets, not one per
 * instance. Same semantics as InMemoryRateLimiter (the contract suite runs both): every charge or none, the
 * first refusing bucket and when it has room, a request bigger than a window may empty a full bucket.
 *
 * The takes of one turn of the event loop go to the database together, in one call (rate_buckets_take_batch,
 * migration 0006): one round trip and one transaction for all of them, however many sends a busy relay has
 * in flight. It locks the batch's buckets in key order, so batches through any instances are serialised per
 * bucket and never deadlock, and decides each take in the order it came, as if alone. Prune skips the
 * buckets a take holds instead of waiting. Bucket keys name devices and accounts by id, never anything secret.
 */
import { chargesByKey, retryAfterMs, type RateCharge, type RateDecision, type RateLimiter } from '../../RateLimiter';
import { GroupCommit } from '../GroupCommit';
import { prepared, type PostgresDatabase } from './PostgresDatabase';

interface Take { readonly charges: readonly RateCharge[]; readonly now: number }

/** Batches of takes in flight at once: while both are, new takes gather into the next. */
const BATCHES_IN_FLIGHT = 2;
/** Takes one call decides at most (each a few statements inside the database). */
const BATCH_TAKES = 100;

export class PostgresRateLimiter implements RateLimiter {
  readonly #takes: GroupCommit<Take, RateDecision>;

  constructor(private readonly database: PostgresDatabase) {
    this.#takes = new GroupCommit((takes) => this.#takeAll(takes), { maxInFlight: BATCHES_IN_FLIGHT, maxItems: BATCH_TAKES });
  }

  async take(charges: readonly RateCharge[], now: number): Promise<RateDecision> {
    const applied = chargesByKey(charges);
    if (applied.length === 0) return { ok: true };
    return this.#takes.add({ charges: applied, now });
  }

  async #takeAll(takes: readonly Take[]): Promise<RateDecision[]> {
    const charges = takes.flatMap((t) => t.charges);
    let end = 0;
    const { rows } = await this.database.query<{ request: number; refused_key: string; refused_tokens: number }>(prepared('rate-take-batch',
      'SELECT request, refused_key, refused_tokens FROM rate_buckets_take_batch($1, $2, $3, $4, $5, $6)',
      [takes.map((t) => (end += t.charges.length)), takes.map((t) => t.now),
        charges.map((c) => c.key), charges.map((c) => c.cost), charges.map((c) => c.limit.amount), charges.map((c) => c.limit.windowMs)],
    ));
    const refusals = new Map(rows.map((r) => [r.request, r]));
    return takes.map((take, i): RateDecision => {
      const refused = refusals.get(i + 1);
      if (!refused) return { ok: true };
      const charge = take.charges.find((c) => c.key === refused.refused_key);
      if (!charge) throw new Error(`the database refused a rate bucket this request did not charge: ${refused.refused_key}`);
      return { ok: false, key: charge.key, retryAfterMs: retryAfterMs(charge.cost, refused.refused_tokens, charge.limit) };
    });
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
