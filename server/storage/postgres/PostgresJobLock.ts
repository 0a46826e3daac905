import type pg from 'pg';
import type { ExclusiveJobOutcome } from '../RelayStore';
import { checkedJobName } from '../exclusiveJob';

/*
 * RelayStore.withExclusiveJob on PostgreSQL: a session-level advisory lock, held on a connection of its own
 * for as long as the job runs (the job's own queries use the pool as usual), and dropped by PostgreSQL if that
 * connection or this process dies. Keyed by (JOB_LOCK_CLASS, hashtext(name)): the two-key space is apart from
 * the one-key locks of migrations, the audit log and control events.
 */

/** The first key of every job lock ("jobs" in ASCII). */
const JOB_LOCK_CLASS = 0x6a6f6273;

export async function withPostgresJobLock<T>(pool: pg.Pool, name: string, job: () => Promise<T>): Promise<ExclusiveJobOutcome<T>> {
  const key = checkedJobName(name);
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const taken = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked', [JOB_LOCK_CLASS, key]);
    if (!taken.rows[0]?.locked) return { ran: false };
    try {
      return { ran: true, value: await job() };
    } finally {
      // A connection that cannot unlock is closed, not pooled: closing it drops the lock.
      await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [JOB_LOCK_CLASS, key]).catch((error: unknown) => (broken = error instanceof Error ? error : new Error(String(error))));
    }
  } finally {
    client.release(broken);
  }
}
