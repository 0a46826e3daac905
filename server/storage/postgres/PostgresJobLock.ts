import pg from 'pg';
import type { ExclusiveJobOutcome, JobLease } from '../RelayStore';
import { checkedJobName, JobLockLost } from '../exclusiveJob';

/*
 * RelayStore.withExclusiveJob on PostgreSQL: a session-level advisory lock, held on a connection of its own
 * (outside the pool, which the job's own queries use as usual) for as long as the job runs, and dropped by
 * PostgreSQL when that connection closes, at the end of the job or when this process dies. Keyed by
 * (JOB_LOCK_CLASS, hashtext(name)): the two-key space is apart from the one-key locks of migrations, the
 * audit log and control events.
 *
 * The session can end while the job runs (a network cut, a failover, an administrator's
 * pg_terminate_backend): PostgreSQL then drops the lock and another instance may take it. The job's lease
 * asks the lock's own session, before each of the job's writes, whether it still holds the lock (one round
 * trip: pg_locks for this backend). A lost connection, an error on it or a lock not found there makes the
 * lease lapse for good (JobLockLost), and the job stops before its next write. What stays open is one write
 * already under way when the session ended; the directory sync's writes are each planned inside their own
 * transaction on what the database holds then, so that one cannot undo the other instance's.
 */

/** How long the lease's check may take before the lock counts as lost. */
const LEASE_CHECK_TIMEOUT_MS = 10_000;

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** The first key of every job lock ("jobs" in ASCII). */
const JOB_LOCK_CLASS = 0x6a6f6273;

export async function withPostgresJobLock<T>(clientConfig: pg.ClientConfig, name: string, job: (lease: JobLease) => Promise<T>): Promise<ExclusiveJobOutcome<T>> {
  const key = checkedJobName(name);
  // Keepalives: a connection a firewall dropped silently is noticed (the lock is gone with it) within minutes, not hours.
  const client = new pg.Client({ ...clientConfig, keepAlive: true, keepAliveInitialDelayMillis: 30_000 });
  let lost: unknown;
  // The lock's session ended or failed: from now on the lease says so (an error here is not thrown anywhere else).
  client.on('error', (error) => (lost ??= error));
  client.on('end', () => (lost ??= new Error('the connection ended')));
  await client.connect();
  try {
    const taken = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked', [JOB_LOCK_CLASS, key]);
    if (!taken.rows[0]?.locked) return { ran: false };
    const lease: JobLease = {
      assertHeld: async () => {
        if (lost === undefined) {
          try {
            // A connection that went silent answers nothing: past LEASE_CHECK_TIMEOUT_MS the lease has lapsed.
            const held = await withTimeout(client.query<{ held: boolean }>(
              `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
                 AND classid = $1::int4::oid AND objid = hashtext($2)::oid AND objsubid = 2) AS held`,
              [JOB_LOCK_CLASS, key],
            ), LEASE_CHECK_TIMEOUT_MS);
            if (!held.rows[0]?.held) lost = new Error('the advisory lock is not held by this session');
          } catch (error) {
            lost ??= error;
          }
        }
        if (lost !== undefined) throw new JobLockLost(key, { cause: lost });
      },
    };
    return { ran: true, value: await job(lease) };
  } finally {
    await client.end().catch(() => undefined);
  }
}
