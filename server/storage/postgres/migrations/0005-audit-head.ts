/**
 * The audit append's first step in one round trip instead of two: take the lock every appender holds until
 * its commit, then read the last record. In one plain statement the read would use a snapshot taken before
 * the lock was granted (READ COMMITTED), and could miss a record committed while it waited: a fork. A
 * PL/pgSQL function runs each statement with a fresh snapshot, so the read after the lock sees it.
 */
export const name = 'audit-head';

export const up = `
CREATE FUNCTION audit_head_locked(lock_key BIGINT) RETURNS TABLE (seq BIGINT, hash TEXT) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(lock_key);
  RETURN QUERY SELECT a.seq, a.hash FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
END $$;
`;
