import Database, { type Statement } from '@signalapp/sqlcipher';
import { applyDatabaseKey, type DatabaseKey } from './DatabaseKey';
import { storageFull } from '../../RelayFailure';
import { MIGRATIONS, type Migration } from './migrations';

export type Row = Record<string, string | number | null | Uint8Array>;
type Params = Record<string, string | number | null | Uint8Array<ArrayBuffer>>;

/** The binding takes `$name` parameters as an object, and no argument at all for a query without any. */
function bind(params: Params | undefined): Params | undefined {
  return params && Object.keys(params).length > 0 ? params : undefined;
}

/** SQLITE_FULL as the typed RELAY_STORAGE_FULL (the one storage error a client is told about); anything else as it is. */
function asStorageFull(error: unknown): unknown {
  return (error as { code?: string }).code === 'SQLITE_FULL' ? storageFull('the relay is out of storage space; try again later') : error;
}

/**
 * An open SQLite database in WAL mode with the relay's schema migrated to the newest version. Writes
 * run in IMMEDIATE transactions (the admin CLI writes to the same file while the relay runs; a busy
 * timeout makes the two wait for each other instead of failing). With a key it is SQLCipher-encrypted
 * (the relay's always is; only tests of the schema and of the upgrade from plaintext open one without).
 */
export class SqliteDatabase {
  readonly db: Database;

  constructor(path: string, migrations: readonly Migration[] = MIGRATIONS, key: DatabaseKey | null = null) {
    this.db = new Database(path, { cacheStatements: true });
    try {
      if (key) applyDatabaseKey(this.db, key, path);
    } catch (error) {
      this.db.close();
      throw error;
    }
    this.db.pragma('journal_mode = WAL');
    // FULL: every commit is fsynced, so "accepted" survives a power cut, not only a process crash.
    // Group commit (EnvelopeBatcher) spreads that cost over every sender in the same turn.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 10000');
    this.db.pragma('foreign_keys = ON');
    // SQLCipher's page cache defaults to 16 MiB a connection and fills as the audit log grows: a relay that
    // ran for an hour held ~16 MiB more than one that just started, for pages it rarely reads again (the
    // queue and the log's tail are what it reads). 4 MiB: the store's CPU per message is the same (bench).
    this.db.pragma('cache_size = -4000');
    this.migrate(migrations);
  }

  /** The schema version this database is at. */
  version(): number {
    const row = this.db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null } | undefined;
    return row?.v ?? 0;
  }

  private migrate(migrations: readonly Migration[]): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT');
    const current = this.version();
    const newest = migrations.at(-1)?.version ?? 0;
    if (current > newest) throw new Error(`database schema version ${current} is newer than this relay understands (${newest}); upgrade the relay`);
    for (const migration of migrations.filter((m) => m.version > current)) {
      this.immediate(() => {
        this.db.exec(migration.up);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($version, $name, $at)').run({ version: migration.version, name: migration.name, at: Date.now() });
      });
    }
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction: all of it commits or none of it. A full disk (SQLITE_FULL) is
   * the one storage error a client is told about as such (RELAY_STORAGE_FULL): the relay keeps running,
   * and every write that fits still goes through.
   */
  immediate<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = fn();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      // SQLite may have rolled back by itself (a failed COMMIT on a full disk): then there is nothing to undo.
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // no transaction left open
      }
      throw asStorageFull(error);
    }
  }

  all<T = Row>(sql: string, params?: Params): T[] {
    return this.#statement(sql, this.#rows).all(bind(params)) as T[];
  }

  /** The first column of every row (one value per row: no row objects made). */
  pluck<T>(sql: string, params?: Params): T[] {
    return this.#statement(sql, this.#plucked).all(bind(params)) as T[];
  }

  get<T = Row>(sql: string, params?: Params): T | undefined {
    return this.#statement(sql, this.#rows).get(bind(params)) as T | undefined;
  }

  /** One statement; outside `immediate` it is its own transaction, and a full disk is told as `immediate` tells it. */
  run(sql: string, params?: Params): number {
    try {
      return this.#statement(sql, this.#rows).run(bind(params)).changes;
    } catch (error) {
      throw asStorageFull(error);
    }
  }

  /** An INSERT of one row: the new row's rowid, or undefined when it inserted nothing (OR IGNORE, a WHERE that failed). Errors as `run`. */
  insert(sql: string, params?: Params): number | undefined {
    try {
      const { changes, lastInsertRowid } = this.#statement(sql, this.#rows).run(bind(params));
      return changes === 1 ? lastInsertRowid : undefined;
    } catch (error) {
      throw asStorageFull(error);
    }
  }

  close(): void {
    this.#rows.clear();
    this.#plucked.clear();
    this.db.close();
  }

  /**
   * Prepared statements by their SQL. The driver's own cache builds a key string from its options and the
   * SQL (hashed anew for every call: 3 % of a saturated relay); the SQL text alone hashes once.
   */
  readonly #rows = new Map<string, Statement>();
  readonly #plucked = new Map<string, Statement>();

  #statement(sql: string, cache: Map<string, Statement>): Statement {
    let statement = cache.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql, cache === this.#plucked ? { pluck: true } : {});
      // Queries put together at run time are prepared (and kept by the driver) but not held here twice.
      if (cache.size < 500) cache.set(sql, statement);
    }
    return statement;
  }
}
