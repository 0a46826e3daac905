/**
 * Inserting envelopes adds to the queue counters once per statement (a transition table), as deleting them
 * does since migration 4: a group commit's one INSERT of a few hundred envelopes ran the row trigger, a
 * plpgsql call and a two-row upsert, once per envelope, and that was the largest per-message statement
 * PostgreSQL ran at saturation (pg_stat_statements: 1.05 calls a message). Now each total and share is
 * updated once per batch, in (user, device, sender) order: the totals are locked already (queueBatch.ts
 * locks them first), and a share is only reached under its queue's total. Expiry and revocation delete
 * envelopes without locking the totals first (migration 4's delete trigger, as before): such a transaction
 * may meet a group commit in a deadlock, which PostgreSQL breaks and PostgresDatabase retries (40P01).
 *
 * The rate buckets and the queue counters are rows updated again and again (a bucket twice a batch of takes, a
 * queue's total three times a group commit): with their pages full, each new version went to another page, and
 * its dead ones piled up faster than pruning freed them (a batch of takes cost PostgreSQL more the longer a run
 * went, ~45 -> ~75 µs a request). Half of each page is left free, so a new version stays on its page (a HOT
 * update, no index entry) and pruning reclaims the old in place: ~33 µs a request, steady.
 */
export const name = 'queue-insert-statement';

/** The insert trigger's function (as deleteRowsFunction in migration 0004: `octet_length` since 0021). */
export function insertRowsFunction(create: 'CREATE' | 'CREATE OR REPLACE', length: 'length' | 'octet_length'): string {
  return `${create} FUNCTION queue_shares_on_insert_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH added AS (
    SELECT recipient_user AS u, recipient_device AS d, sender_user AS s, count(*) AS n, sum(${length}(content) * 3 / 4) AS b
    FROM new_rows GROUP BY 1, 2, 3
  )
  INSERT INTO queue_shares (user_id, device_id, sender_user, envelopes, bytes)
  SELECT u, d, s, n, b FROM added
  UNION ALL
  SELECT u, d, '', sum(n), sum(b) FROM added GROUP BY u, d
  ORDER BY 1, 2, 3
  ON CONFLICT (user_id, device_id, sender_user)
  DO UPDATE SET envelopes = queue_shares.envelopes + excluded.envelopes, bytes = queue_shares.bytes + excluded.bytes;
  RETURN NULL;
END $$;
`;
}

export const up = `
DROP TRIGGER queue_shares_on_insert ON envelopes;
DROP FUNCTION queue_shares_on_insert();

${insertRowsFunction('CREATE', 'length')}CREATE TRIGGER queue_shares_on_insert AFTER INSERT ON envelopes REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION queue_shares_on_insert_rows();

ALTER TABLE rate_buckets SET (fillfactor = 50);
ALTER TABLE queue_shares SET (fillfactor = 50);
`;
