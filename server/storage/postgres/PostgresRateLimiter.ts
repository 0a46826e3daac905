/**
 * The relay's rate limits in the PostgreSQL database every relay instance shares (issue 17): a device
 * spreading its requests over the instances behind the load balancer meets one set of buckets, not one per
 * instance. Same semantics as InMemoryRateLimiter (the contract suite runs both): every charge or none, the
 * first refusing bucket and when it has room, a request bigger than a window may empty a full bucket.
 *
 * The takes of one turn of the event loop go to the database together, in one transaction however many sends a
 * busy relay has in flight. It locks the batch's buckets in key order, so batches through any instances are
 * serialised per bucket and never deadlock, and decides each take in the order it came, as if alone. A few
 * takes are one call (rate_buckets_take_batch, migration 0006: one round trip). More are decided here, with
 * the arithmetic InMemoryRateLimiter uses, between reading the locked buckets and writing them back: four
 * round trips, but PostgreSQL no longer runs a plpgsql loop over every charge of every take (at saturation the
 * rate limits cost about a third of PostgreSQL's CPU a message, ~25 µs, and deciding here saved ~12 of them:
 * README). Prune skips the buckets a take holds instead of waiting. Bucket keys name devices and accounts by
 * id, never anything secret.
 */
import { chargesByKey, retryAfterMs, takeFromBuckets, type RateBucket, type RateCharge, type RateDecision, type RateLimit, type RateLimiter } from '../../RateLimiter';
import { GroupCommit } from '../GroupCommit';
import { prepared, type PostgresDatabase } from './PostgresDatabase';
import { binaryFloat8Array, binaryTextArray } from './binaryArrays';

interface Take { readonly charges: readonly RateCharge[]; readonly now: number }

/** Batches of takes in flight at once: while both are, new takes gather into the next. */
const BATCHES_IN_FLIGHT = 2;
/** Takes one call decides at most (each a few statements inside the database). */
const BATCH_TAKES = 100;
/**
 * From this many takes a batch is decided in the relay: its three extra round trips cost less than the
 * database's loop over that many takes' charges. Below, one call (a quiet relay's batch is one take).
 */
const DECIDED_HERE_FROM = 4;

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
    return takes.length >= DECIDED_HERE_FROM ? this.#decideHere(takes) : this.#decideThere(takes);
  }

  /**
   * The batch's buckets locked and read in key order (a missing one made full, refilled at -infinity, as
   * rate_buckets_take_batch makes it), every take decided here in order, each bucket written back once.
   */
  #decideHere(takes: readonly Take[]): Promise<RateDecision[]> {
    const limits = new Map<string, RateLimit>();
    for (const take of takes) for (const charge of take.charges) if (!limits.has(charge.key)) limits.set(charge.key, charge.limit);
    const entries = [...limits];
    const keys = entries.map(([key]) => key);
    return this.database.transaction(async (client) => {
      const { rows } = await client.query<{ key: string; tokens: number; refilled_at: number; amount: number; window_ms: number }>(prepared('rate-lock-buckets',
        `INSERT INTO rate_buckets AS b (key, tokens, refilled_at, amount, window_ms)
         SELECT c.key, c.amount, '-infinity'::float8, c.amount, c.window_ms
         FROM unnest($1::text[], $2::float8[], $3::float8[]) AS c(key, amount, window_ms) ORDER BY c.key
         ON CONFLICT (key) DO UPDATE SET tokens = b.tokens
         RETURNING b.key, b.tokens, b.refilled_at, b.amount, b.window_ms`,
        [binaryTextArray(keys), binaryFloat8Array(entries.map(([, limit]) => limit.amount)), binaryFloat8Array(entries.map(([, limit]) => limit.windowMs))]));
      const buckets = new Map<string, RateBucket>(rows.map((r) => [r.key, { tokens: r.tokens, at: r.refilled_at, limit: { amount: r.amount, windowMs: r.window_ms } }]));
      const decisions = takes.map((take) => takeFromBuckets(buckets, take.charges, take.now));
      const held = [...buckets];
      await client.query(prepared('rate-write-buckets',
        `UPDATE rate_buckets b SET tokens = u.tokens, refilled_at = u.refilled_at, amount = u.amount, window_ms = u.window_ms
         FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[]) AS u(key, tokens, refilled_at, amount, window_ms)
         WHERE b.key = u.key`,
        [binaryTextArray(held.map(([key]) => key)), binaryFloat8Array(held.map(([, b]) => b.tokens)), binaryFloat8Array(held.map(([, b]) => b.at)), binaryFloat8Array(held.map(([, b]) => b.limit.amount)), binaryFloat8Array(held.map(([, b]) => b.limit.windowMs))]));
      return decisions;
    });
  }

  async #decideThere(takes: readonly Take[]): Promise<RateDecision[]> {
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
