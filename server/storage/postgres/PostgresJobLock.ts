import pg from 'pg';
import type { ExclusiveJobOutcome } from '../RelayStore';
import { checkedJobName } from '../exclusiveJob';

/*
 * RelayStore.withExclusiveJob on PostgreSQL: a session-level advisory lock, held on a connection of its own
 * (outside the pool, which the job's own queries use as usual) for as long as the job runs, and dropped by
 * PostgreSQL when that connection closes, at the end of the job or when this process dies. Keyed by
 * (JOB_LOCK_CLASS, hashtext(name)): the two-key space is apart from the one-key locks of migrations, the
 * audit log and control events.
 */

/** The first key of every job lock ("jobs" in ASCII). */
const JOB_LOCK_CLASS = 0x6a6f6273;

export async function withPostgresJobLock<T>(clientConfig: pg.ClientConfig, name: string, job: () => Promise<T>): Promise<ExclusiveJobOutcome<T>> {
  const key = checkedJobName(name);
  const client = new pg.Client(clientConfig);
  // A connection lost while the job runs drops the lock: the job goes on, as it would have without it.
  client.on('error', () => undefined);
  await client.connect();
  try {
    const taken = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked', [JOB_LOCK_CLASS, key]);
    if (!taken.rows[0]?.locked) return { ran: false };
    return { ran: true, value: await job() };
  } finally {
    await client.end().catch(() => undefined);
  }
}
