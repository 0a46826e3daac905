/**
 * Deleting envelopes updates the queue counters once per statement (a transition table), not once per row:
 * revoking a device whose queue holds the whole limit (50,000 envelopes) was 100,000 trigger statements,
 * past the statement timeout, and the revocation failed. Acknowledgements of a page are one update too.
 */
export const name = 'queue-delete-statement';

/**
 * The delete trigger's function, counting an envelope's bytes with `length` (characters) here and
 * `octet_length` since migration 0021: one text, so the two cannot drift apart.
 */
export function deleteRowsFunction(create: 'CREATE' | 'CREATE OR REPLACE', length: 'length' | 'octet_length'): string {
  return `${create} FUNCTION queue_shares_on_delete_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH gone AS (
    SELECT recipient_user AS u, recipient_device AS d, sender_user AS s, count(*) AS n, sum(${length}(content) * 3 / 4) AS b
    FROM old_rows GROUP BY 1, 2, 3
  ), shares AS (
    SELECT u, d, s, n, b FROM gone
    UNION ALL
    SELECT u, d, '', sum(n), sum(b) FROM gone GROUP BY u, d
  )
  UPDATE queue_shares q SET envelopes = q.envelopes - shares.n, bytes = q.bytes - shares.b
  FROM shares WHERE q.user_id = shares.u AND q.device_id = shares.d AND q.sender_user = shares.s;
  DELETE FROM queue_shares q USING (SELECT DISTINCT recipient_user, recipient_device FROM old_rows) g
  WHERE q.user_id = g.recipient_user AND q.device_id = g.recipient_device AND q.envelopes = 0;
  RETURN NULL;
END $$;
`;
}

export const up = `
DROP TRIGGER queue_shares_on_delete ON envelopes;
DROP FUNCTION queue_shares_on_delete();

${deleteRowsFunction('CREATE', 'length')}CREATE TRIGGER queue_shares_on_delete AFTER DELETE ON envelopes REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION queue_shares_on_delete_rows();
`;
