import { join } from 'node:path';
import { FileLock } from '../FileLock';
import { RelayFailure } from '../RelayFailure';
import { JOB_NAME, type ExclusiveJobOutcome } from './RelayStore';

/*
 * One process at a time runs a job of a given name (the directory sync): RelayStore.withExclusiveJob. The
 * embedded store's relay and the admin commands beside it share the data directory, so the lock is a file
 * there (FileLock: the operating system drops it with the process); the PostgreSQL store's is an advisory
 * lock of a database session (PostgresJobLock.ts).
 */

export function checkedJobName(name: string): string {
  if (!JOB_NAME.test(name)) throw new RelayFailure('BAD_REQUEST', `not a job name: ${JSON.stringify(name)}`);
  return name;
}

/** Runs `job` holding `<dataDir>/<name>.job.lock`, or not at all when another process holds it. */
export async function withFileJobLock<T>(dataDir: string, name: string, job: () => Promise<T>): Promise<ExclusiveJobOutcome<T>> {
  const lock = FileLock.tryAcquire(join(dataDir, `${checkedJobName(name)}.job.lock`));
  if (!lock) return { ran: false };
  try {
    return { ran: true, value: await job() };
  } finally {
    lock.release();
  }
}
