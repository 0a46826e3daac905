/**
 * The relay's PostgreSQL database (issue 17): a connection pool, transactions retried when PostgreSQL
 * asks for it (a serialization failure or a deadlock, which concurrent relay instances can meet), and the
 * schema's versioned migrations. Several instances may start at once: migrations run under an advisory lock,
 * each in its own transaction (PostgreSQL's DDL is transactional: a failed one leaves the previous version).
 * `serve` refuses a schema newer than its code, and one older (`rounds-server migrate` brings it up).
 */
import pg from 'pg';
import pgPass from 'pgpass';
import { ConfigurationError } from '../../ConfigurationError';
import { RelayFailure } from '../../RelayFailure';
import { POSTGRES_MIGRATIONS, type PostgresMigration } from './migrations';
import { checkDatabaseTlsParameters, databaseTls } from './databaseTls';

/** How long /readyz waits for the database before calling it unreachable. */
const READY_TIMEOUT_MS = 2000;

/** Key of the advisory lock migrations hold ("rounds" in ASCII, as a number). */
const MIGRATION_LOCK = 0x726f756e6473;
/** SQLSTATEs after which a transaction is tried again: serialization_failure, deadlock_detected. */
const RETRY_STATES: ReadonlySet<string> = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 5;

/** The schema does not fit this relay's code; the message says which command to run. */
export class SchemaVersionError extends ConfigurationError {}

export interface PostgresOptions {
  /** postgres://USER@HOST:PORT/DB (a password in the URL is refused: it belongs in a file). */
  readonly url: string;
  /** The password (read from a file by the caller); without it, PGPASSFILE or ~/.pgpass. */
  readonly password?: string;
  readonly maxConnections?: number;
}

/**
 * How long one statement may run, on the server (statement_timeout) and, a little longer, in the client
 * (a network stall never answers at all): a send waits this long at most before failing with a retryable error.
 */
export const STATEMENT_TIMEOUT_MS = 5000;
const CONNECT_TIMEOUT_MS = 5000;

/** Anything that runs a query: the database (errors translated), or a transaction's client. */
export interface Queryable {
  query<R extends pg.QueryResultRow>(text: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * A statement of the hot path, prepared once per connection under `name` (PostgreSQL parses and plans it once,
 * not at every message). `text` must be a constant: one name, one text; and it names its columns (never
 * `SELECT *`: a prepared statement whose result changes shape after a migration fails).
 */
export function prepared(name: string, text: string, values: unknown[]): pg.QueryConfig {
  return { name, text, values };
}

/** How long a client refused for want of the database waits before it tries again. */
const UNAVAILABLE_RETRY_MS = 2000;

/**
 * Why the database cannot serve a request now, as a client may be told, or undefined when the error is about
 * the request itself (or our own code). Out of reach: SQLSTATE class 08 (connection exception), 57P0x
 * (shutdown, cannot connect now) and the driver's socket and timeout errors; too slow: 57014 (the statement
 * timeout); busy: 53300 (too many connections), 55P03 (a lock not granted in time), and 40001/40P01
 * (serialization failure, deadlock) still failing after the transaction's own retries.
 */
export function databaseTrouble(error: unknown): string | undefined {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : '';
  if (code === '57014') return 'the relay\'s database did not answer in time';
  if (code === '53300' || code === '55P03' || code === '40001' || code === '40P01') return 'the relay\'s database is busy';
  if (typeof code === 'string' && (/^(08|57)/.test(code) || /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH)$/.test(code))) return 'the relay cannot reach its database just now';
  if (/^(Connection terminated|Query read timeout|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(message)) return 'the relay cannot reach its database just now';
  return undefined;
}

/** Trouble with the database as the relay reports it to clients: RELAY_UNAVAILABLE (503, Retry-After 2 s); anything else as it is. */
export function asRelayFailure(error: unknown): unknown {
  const trouble = databaseTrouble(error);
  return trouble
    ? new RelayFailure('RELAY_UNAVAILABLE', `${trouble}; try again shortly`, { retryAfterSeconds: UNAVAILABLE_RETRY_MS / 1000, retryAfterMs: UNAVAILABLE_RETRY_MS })
    : error;
}

export class PostgresDatabase implements Queryable {
  private constructor(readonly pool: pg.Pool, readonly clientConfig: () => pg.ClientConfig) {}

  static connect(options: PostgresOptions): PostgresDatabase {
    const url = parseDatabaseUrl(options.url);
    const where = { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || 5432), user: decodeURIComponent(url.username), database: decodeURIComponent(url.pathname.slice(1)) };
    const tls = databaseTls(url, where.host);
    const clientConfig = (): pg.ClientConfig => ({
      ...where,
      // Without a password file, PostgreSQL's own PGPASSFILE (or ~/.pgpass), asked only if the server wants one.
      password: options.password ?? (() => new Promise<string>((resolve) => pgPass(where, (password) => resolve(password ?? '')))),
      application_name: 'rounds-relay',
      statement_timeout: STATEMENT_TIMEOUT_MS,
      query_timeout: STATEMENT_TIMEOUT_MS + 1000,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
      ssl: tls,
    });
    const pool = new pg.Pool({ ...clientConfig(), max: options.maxConnections ?? 10 });
    // An idle client that loses its connection (a failover, a restart of PostgreSQL) is dropped from the
    // pool; without a listener the error would end the process.
    pool.on('error', () => undefined);
    // A client in use when its connection dies emits 'error' on itself as well as failing its query: without a
    // listener of its own that would end the relay, where the failed query already says what happened.
    pool.on('connect', (client) => client.on('error', () => undefined));
    return new PostgresDatabase(pool, clientConfig);
  }

  /** One statement on a pooled connection; the database out of reach is a RELAY_UNAVAILABLE failure. */
  async query<R extends pg.QueryResultRow>(text: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await (typeof text === 'string' ? this.pool.query<R>(text, values) : this.pool.query<R>(text));
    } catch (error) {
      throw asRelayFailure(error);
    }
  }

  /** The schema version (0: no relay schema yet). */
  async version(): Promise<number> {
    const exists = await this.pool.query<{ present: boolean }>(`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`);
    if (!exists.rows[0]?.present) return 0;
    const row = await this.pool.query<{ v: string | null }>('SELECT max(version) AS v FROM schema_migrations');
    return Number(row.rows[0]?.v ?? 0);
  }

  /** Applies the migrations the database lacks, each in its own transaction; returns the versions applied here. */
  async migrate(migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS): Promise<number[]> {
    const applied: number[] = [];
    for (const migration of migrations) {
      const done = await this.transaction(async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
        const current = Number((await client.query<{ v: string | null }>('SELECT max(version) AS v FROM schema_migrations')).rows[0]?.v ?? 0);
        const newest = migrations.at(-1)?.version ?? 0;
        if (current > newest) throw new SchemaVersionError(`the PostgreSQL schema is at version ${current}, newer than this relay understands (${newest}); upgrade the relay`);
        if (current >= migration.version) return false;
        await client.query(migration.up);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, Date.now()]);
        return true;
      });
      if (done) applied.push(migration.version);
    }
    return applied;
  }

  /** For `serve`: the schema must be exactly the code's (newer: upgrade the relay; older: run migrate). */
  async assertCurrent(migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS): Promise<void> {
    const current = await this.version();
    const newest = migrations.at(-1)?.version ?? 0;
    if (current > newest) throw new SchemaVersionError(`the PostgreSQL schema is at version ${current}, newer than this relay understands (${newest}); upgrade the relay`);
    if (current < newest) throw new SchemaVersionError(`the PostgreSQL schema is at version ${current}, this relay needs ${newest}: run rounds-server migrate with the same --database`);
  }

  /**
   * For /readyz: why this relay cannot serve from the database now (unreachable within READY_TIMEOUT_MS, or its
   * schema not the code's), or undefined. Only PostgreSQL's error code is said: /readyz is as public as the relay,
   * and a message would name the database's host.
   */
  async notReady(migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS): Promise<string | undefined> {
    const newest = migrations.at(-1)?.version ?? 0;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`PostgreSQL did not answer within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS)));
    const check = this.version().then(
      (version) => (version === newest ? undefined : `the PostgreSQL schema is at version ${version}, this relay needs ${newest}`),
      (error: unknown) => `PostgreSQL is unreachable (${String((error as { code?: unknown }).code ?? 'no answer')})`,
    );
    try {
      return await Promise.race([check, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs `fn` in one transaction on one connection: all of it commits or none of it. Tried again (from the
   * start, `fn` included) when PostgreSQL reports a serialization failure or a deadlock.
   */
  async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    try {
      return await this.#transaction(fn);
    } catch (error) {
      throw asRelayFailure(error);
    }
  }

  async #transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      // A connection that cannot even roll back (lost, stalled past the timeout) is closed, not pooled again.
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((rollback: unknown) => (broken = rollback instanceof Error ? rollback : new Error(String(rollback))));
        const state = (error as { code?: unknown }).code;
        if (attempt >= MAX_ATTEMPTS || typeof state !== 'string' || !RETRY_STATES.has(state)) throw error;
      } finally {
        client.release(broken);
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** The --database URL, checked: postgres:// or postgresql://, a database name, and no password in it. */
export function parseDatabaseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigurationError(`--database is not a URL: expected postgres://USER@HOST:PORT/DB`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new ConfigurationError(`--database must be a postgres:// URL, not ${url.protocol}//`);
  if (url.password) throw new ConfigurationError('--database must not hold the password (it would show in process lists and logs): put it in a file (--database-password-file) or PGPASSFILE');
  if (!url.username || url.pathname.length <= 1) throw new ConfigurationError('--database needs a user and a database: postgres://USER@HOST:PORT/DB');
  // Refused rather than ignored: an operator writing ?sslmode=require must not believe the connection is protected.
  checkDatabaseTlsParameters(url);
  return url;
}
