/**
 * The relays' rate limits, shared by every instance (issue 17): one token bucket a row, keyed as the
 * limiter names it (what is limited, and for whom). A bucket holds `tokens` as of `refilled_at`, refilled
 * at `amount` per `window_ms`; a full bucket behaves as an absent one, so prune deletes those. Times are
 * milliseconds since the epoch as the relay's clock gives them, and tokens fractions: both are DOUBLE
 * PRECISION, computed exactly as InMemoryRateLimiter computes them in JavaScript.
 *
 * UNLOGGED: a take writes no WAL, so its commit waits for no disk flush (which took two thirds of a take's
 * time). PostgreSQL empties the table after a crash, and a standby promoted in a failover starts with it
 * empty: every bucket full, which only lets devices through sooner, as a relay restart did when the buckets
 * lived in its memory.
 *
 * rate_buckets_take is one request's charges in one statement, so one round trip a send (the relay
 * PostgresRateLimiter checks and merges the charges first: one per key, each at most a window's worth).
 * It locks every bucket in key order (an upsert that refills it; a new one is full), so two requests
 * sharing buckets never deadlock and each sees the other's tokens gone; then takes every charge or none.
 * It returns nothing when it took them, or the first refusing charge (in the order given) and its tokens.
 */
export const name = 'rate-buckets';

export const up = `
CREATE UNLOGGED TABLE rate_buckets (
  key TEXT PRIMARY KEY,
  tokens DOUBLE PRECISION NOT NULL,
  refilled_at DOUBLE PRECISION NOT NULL,
  amount DOUBLE PRECISION NOT NULL CHECK (amount > 0),
  window_ms DOUBLE PRECISION NOT NULL CHECK (window_ms > 0)
);

CREATE FUNCTION rate_buckets_take(charge_keys TEXT[], charge_costs DOUBLE PRECISION[], charge_amounts DOUBLE PRECISION[], charge_windows DOUBLE PRECISION[], now_ms DOUBLE PRECISION)
RETURNS TABLE (refused_key TEXT, refused_tokens DOUBLE PRECISION) LANGUAGE plpgsql AS $$
DECLARE
  refused RECORD;
BEGIN
  WITH charges AS (
    SELECT c.key, c.cost, c.amount, c.window_ms, c.ord
    FROM unnest(charge_keys, charge_costs, charge_amounts, charge_windows) WITH ORDINALITY AS c(key, cost, amount, window_ms, ord)
  ), refilled AS (
    INSERT INTO rate_buckets AS b (key, tokens, refilled_at, amount, window_ms)
    SELECT c.key, c.amount, now_ms, c.amount, c.window_ms FROM charges c ORDER BY c.key
    ON CONFLICT (key) DO UPDATE SET
      tokens = least(excluded.amount, b.tokens + (greatest(0, now_ms - b.refilled_at) * excluded.amount) / excluded.window_ms),
      refilled_at = greatest(b.refilled_at, now_ms),
      amount = excluded.amount,
      window_ms = excluded.window_ms
    RETURNING b.key, b.tokens
  )
  SELECT c.key, r.tokens INTO refused FROM charges c JOIN refilled r ON r.key = c.key WHERE r.tokens < c.cost ORDER BY c.ord LIMIT 1;
  IF FOUND THEN
    refused_key := refused.key;
    refused_tokens := refused.tokens;
    RETURN NEXT;
    RETURN;
  END IF;
  UPDATE rate_buckets b SET tokens = b.tokens - c.cost
  FROM unnest(charge_keys, charge_costs) AS c(key, cost) WHERE b.key = c.key;
END $$;
`;
