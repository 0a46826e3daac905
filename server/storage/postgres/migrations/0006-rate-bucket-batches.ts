/**
 * Rate-limit takes in batches (issue 17's bench): a relay under load sends every take of one turn of its
 * event loop in one call, instead of one call each. One call each made a convoy: twenty sends of one device
 * in flight each held a pooled connection while it waited for the same bucket rows, and the group commit
 * waited for a connection behind them; the takes were 80 % of PostgreSQL's time at saturation.
 *
 * rate_buckets_take_batch locks and reads every bucket of the batch once, in key order (so batches from several
 * instances never deadlock), decides each request in memory in the order given exactly as rate_buckets_take
 * (migration 0002) does alone (its buckets refilled to its own time, then every charge taken or none), and
 * writes every bucket back in one update (an update per request cost PostgreSQL 0.4 ms a take).
 * Request i's charges are positions request_ends[i-1]+1 .. request_ends[i] of the charge arrays. Returns a row
 * for each refused request: its position (1-based), the first refusing charge in its order, and its tokens.
 */
export const name = 'rate-bucket-batches';

export const up = `
CREATE FUNCTION rate_buckets_take_batch(request_ends INT[], request_nows DOUBLE PRECISION[], charge_keys TEXT[], charge_costs DOUBLE PRECISION[], charge_amounts DOUBLE PRECISION[], charge_windows DOUBLE PRECISION[])
RETURNS TABLE (request INT, refused_key TEXT, refused_tokens DOUBLE PRECISION) LANGUAGE plpgsql AS $$
DECLARE
  held_keys TEXT[];
  held_tokens DOUBLE PRECISION[];
  held_refilled DOUBLE PRECISION[];
  held_amounts DOUBLE PRECISION[];
  held_windows DOUBLE PRECISION[];
  slot INT[];
  first INT := 1;
  last INT;
  n INT := 0;
  now_ms DOUBLE PRECISION;
  refused_at INT;
  i INT;
  k INT;
BEGIN
  -- Every bucket of the batch locked in key order and read once; a new one is full, refilled at -infinity
  -- (so its first request's refill leaves it full and dates it at that request's time, as a take alone does).
  WITH locked AS (
    INSERT INTO rate_buckets AS b (key, tokens, refilled_at, amount, window_ms)
    SELECT DISTINCT ON (c.key) c.key, c.amount, '-infinity'::float8, c.amount, c.window_ms
    FROM unnest(charge_keys, charge_amounts, charge_windows) AS c(key, amount, window_ms) ORDER BY c.key
    ON CONFLICT (key) DO UPDATE SET tokens = b.tokens
    RETURNING b.key, b.tokens, b.refilled_at, b.amount, b.window_ms
  )
  SELECT array_agg(l.key), array_agg(l.tokens), array_agg(l.refilled_at), array_agg(l.amount), array_agg(l.window_ms)
  INTO held_keys, held_tokens, held_refilled, held_amounts, held_windows FROM locked l;
  slot := ARRAY(SELECT array_position(held_keys, c) FROM unnest(charge_keys) AS c);
  -- Each request in order, in memory: its buckets refilled to its own time with its limits, then every
  -- charge taken or none (the first refusing one named).
  FOREACH last IN ARRAY request_ends LOOP
    n := n + 1;
    now_ms := request_nows[n];
    refused_at := NULL;
    FOR i IN first..last LOOP
      k := slot[i];
      held_tokens[k] := least(charge_amounts[i], held_tokens[k] + (greatest(0, now_ms - held_refilled[k]) * charge_amounts[i]) / charge_windows[i]);
      held_refilled[k] := greatest(held_refilled[k], now_ms);
      held_amounts[k] := charge_amounts[i];
      held_windows[k] := charge_windows[i];
    END LOOP;
    FOR i IN first..last LOOP
      IF held_tokens[slot[i]] < charge_costs[i] THEN
        refused_at := i;
        EXIT;
      END IF;
    END LOOP;
    IF refused_at IS NULL THEN
      FOR i IN first..last LOOP
        held_tokens[slot[i]] := held_tokens[slot[i]] - charge_costs[i];
      END LOOP;
    ELSE
      request := n;
      refused_key := charge_keys[refused_at];
      refused_tokens := held_tokens[slot[refused_at]];
      RETURN NEXT;
    END IF;
    first := last + 1;
  END LOOP;
  UPDATE rate_buckets b SET tokens = u.tokens, refilled_at = u.refilled_at, amount = u.amount, window_ms = u.window_ms
  FROM unnest(held_keys, held_tokens, held_refilled, held_amounts, held_windows) AS u(key, tokens, refilled_at, amount, window_ms)
  WHERE b.key = u.key;
END $$;
`;
