import { join } from 'node:path';
import { FileLock } from '../FileLock';
import { RelayFailure } from '../RelayFailure';
import { JOB_NAME, type ExclusiveJobOutcome, type JobLease } from './RelayStore';

/*
 * One process at a time runs a job of a given name (the directory sync): RelayStore.withExclusiveJob. The
 * embedded store's relay and the admin commands beside it share the data directory, so the lock is a file
 * there (FileLock: the operating system drops it with the process, and never while the process lives); the
 * PostgreSQL store's is an advisory lock of a database session (PostgresJobLock.ts), which the job can lose
 * while it runs when that session drops: the job's lease then says so (JobLockLost).
 */

/** The job's lock is no longer this process's: another process may be running the job now. Stop writing. */
export class JobLockLost extends Error {
  readonly code = 'JOB_LOCK_LOST';
  constructor(readonly job: string, options?: { cause?: unknown }) {
    super(`the lock of the ${job} job was lost while it ran (its database session ended): the job stopped, and another process may run it now`, options);
    this.name = 'JobLockLost';
  }
}

export function checkedJobName(name: string): string {
  if (!JOB_NAME.test(name)) throw new RelayFailure('BAD_REQUEST', `not a job name: ${JSON.stringify(name)}`);
  return name;
}

/** A file lock is held as long as the process lives: its lease never lapses. */
const FILE_LEASE: JobLease = { assertHeld: async () => undefined };

/** Runs `job` holding `<dataDir>/<name>.job.lock`, or not at all when another process holds it. */
export async function withFileJobLock<T>(dataDir: string, name: string, job: (lease: JobLease) => Promise<T>): Promise<ExclusiveJobOutcome<T>> {
  const lock = FileLock.tryAcquire(join(dataDir, `${checkedJobName(name)}.job.lock`));
  if (!lock) return { ran: false };
  try {
    return { ran: true, value: await job(FILE_LEASE) };
  } finally {
    lock.release();
  }
}
