import Database from '@signalapp/sqlcipher';

/**
 * An exclusive lock on a file that the operating system drops when the process dies, however it dies
 * (kill -9, power loss): SQLite's own file lock (POSIX advisory locks, LockFileEx on Windows), held by an
 * open EXCLUSIVE transaction on an empty database. Unlike a pid file it cannot go stale.
 */
export class FileLock {
  readonly #db: Database;

  private constructor(db: Database) {
    this.#db = db;
  }

  /** The lock, or null when another process holds it. */
  static tryAcquire(path: string): FileLock | null {
    const db = new Database(path);
    try {
      db.pragma('busy_timeout = 0');
      db.exec('BEGIN EXCLUSIVE');
      return new FileLock(db);
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code === 'SQLITE_BUSY') return null;
      throw error;
    }
  }

  release(): void {
    try {
      this.#db.exec('ROLLBACK');
    } finally {
      this.#db.close();
    }
  }
}
