import Database from '@signalapp/sqlcipher';
import { systemClock, type Clock } from '../Clock';
import { RoundsError } from '../errors';
import { PROFILE_MIGRATIONS, type ProfileMigration } from './migrations';
import { privateFile } from './privateFiles';

export type Params = Record<string, string | number | null | Uint8Array<ArrayBuffer>>;

/** The queries the profile's stores need: the encrypted database, or plain SQLite for comparison. */
export interface SqlRunner {
  all<T>(sql: string, params?: Params): T[];
  get<T>(sql: string, params?: Params): T | undefined;
  run(sql: string, params?: Params): number;
  transaction<T>(fn: () => T): T;
}

/** A storage failure sorted into what the user or the app can act on. */
export class StorageError extends RoundsError {
  constructor(readonly kind: 'corrupt' | 'full' | 'locked', message: string, options?: { cause?: unknown }) {
    super(kind === 'full' ? 'STORAGE_FULL' : kind === 'corrupt' ? 'STORAGE_CORRUPT' : 'PROFILE_LOCKED', message, options);
  }
}

/** The one place that sorts SQLite's errors (wrong key and corruption look alike: "not a database"). */
export function storageError(error: unknown): StorageError {
  const message = error instanceof Error ? error.message : String(error);
  if (/full|SQLITE_FULL|disk I\/O/i.test(message)) return new StorageError('full', 'the disk is full; free space and try again', { cause: error });
  if (/locked|busy/i.test(message)) return new StorageError('locked', 'the profile database is in use by another Rounds window', { cause: error });
  return new StorageError('corrupt', 'the profile database cannot be read', { cause: error });
}

/**
 * One local profile's SQLCipher database, opened with a raw 256-bit key (no passphrase KDF inside
 * SQLCipher: the key already comes from Argon2id), in WAL mode, migrated to the newest schema.
 */
export class ProfileDatabase implements SqlRunner {
  #db: Database | undefined;
  #depth = 0;

  readonly #clock: Clock;

  constructor(path: string, key: Buffer, migrations: readonly ProfileMigration[] = PROFILE_MIGRATIONS, clock: Clock = systemClock) {
    this.#clock = clock;
    // Made 0600 before SQLite opens it: its -wal and -shm files then get the same mode.
    const db = new Database(privateFile(path), { cacheStatements: true });
    try {
      // The key crosses into SQLCipher as hex text; it is never logged.
      db.pragma(`key = "x'${key.toString('hex')}'"`);
      db.pragma('cipher_memory_security = ON');
      db.exec('SELECT count(*) FROM sqlite_master');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('secure_delete = ON');
      db.pragma('foreign_keys = ON');
      this.#db = db;
      this.#migrate(migrations);
    } catch (error) {
      db.close();
      this.#db = undefined;
      throw error instanceof RoundsError ? error : storageError(error);
    }
  }

  get open(): boolean {
    return this.#db !== undefined;
  }

  version(): number {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT');
    return (this.db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null } | undefined)?.v ?? 0;
  }

  /** Runs `fn` in one transaction: every multi-row change commits entirely or not at all. */
  transaction<T>(fn: () => T): T {
    const db = this.db;
    // Nested calls (a store helper used inside a larger change) become savepoints of the outer one.
    const nested = this.#depth > 0;
    const savepoint = `nested_${this.#depth}`;
    db.exec(nested ? `SAVEPOINT ${savepoint}` : 'BEGIN IMMEDIATE');
    this.#depth++;
    try {
      const result = fn();
      db.exec(nested ? `RELEASE ${savepoint}` : 'COMMIT');
      return result;
    } catch (error) {
      // Also when COMMIT itself failed (a full disk): roll back, so the next change starts clean.
      if (nested) db.exec(`ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`);
      else rollbackQuietly(db);
      throw error;
    } finally {
      this.#depth--;
    }
  }

  all<T>(sql: string, params?: Params): T[] {
    return this.db.prepare(sql).all(bind(params)) as T[];
  }

  get<T>(sql: string, params?: Params): T | undefined {
    return this.db.prepare(sql).get(bind(params)) as T | undefined;
  }

  run(sql: string, params?: Params): number {
    return this.db.prepare(sql).run(bind(params)).changes;
  }

  close(): void {
    const db = this.#db;
    this.#db = undefined;
    if (!db) return;
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
  }

  private get db(): Database {
    if (!this.#db) throw new StorageError('locked', 'the profile is locked');
    return this.#db;
  }

  #migrate(migrations: readonly ProfileMigration[]): void {
    const current = this.version();
    const newest = migrations.at(-1)?.version ?? 0;
    if (current > newest) throw new StorageError('corrupt', `this profile was written by a newer Rounds (schema ${current}); update the app`);
    for (const migration of migrations.filter((m) => m.version > current)) {
      this.transaction(() => {
        this.db.exec(migration.up);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($v, $n, $at)').run({ v: migration.version, n: migration.name, at: this.#clock.now() });
      });
    }
  }
}

function bind(params: Params | undefined): Params | undefined {
  return params && Object.keys(params).length > 0 ? params : undefined;
}

/** Rolls back the open transaction; none may be open any more when COMMIT itself failed, and that is fine. */
function rollbackQuietly(db: Database): void {
  try {
    db.exec('ROLLBACK');
  } catch {
    // no transaction was active
  }
}
