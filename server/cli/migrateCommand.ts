/**
 * `rounds-server migrate`: brings a site's PostgreSQL database to this relay's schema (issue 17). Run once
 * per upgrade, before the relays serve; several relays (or two admins) migrating at once apply each
 * version once. The database comes from --database or ROUNDS_DATABASE_URL, its password from a file
 * (--database-password-file) or, without one, from PGPASSFILE / ~/.pgpass as PostgreSQL's own tools read
 * it: never from the command line, where process lists and shell history would keep it.
 */
import { Option, type Command } from 'commander';
import { describeError } from '../../shared/errors';
import { ConfigurationError } from '../ConfigurationError';
import { readSecretLine } from '../secretFile';
import { requireDatabase } from './configDatabase';
import type { PostgresDatabase, PostgresOptions } from '../storage/postgres/PostgresDatabase';

export interface DatabaseOptions {
  readonly database: string;
  readonly databasePasswordFile?: string;
}

export const databaseOption = () => new Option('--database <url>', 'the site\'s PostgreSQL database: postgres://USER@HOST:PORT/DB (no password in it)').env('ROUNDS_DATABASE_URL');
export const databasePasswordFileOption = () => new Option('--database-password-file <file>', 'the database password, on the first line of this file (without it: PGPASSFILE or ~/.pgpass)');

/**
 * The PostgreSQL modules (and the `pg` driver under them), loaded only by a relay or command that uses the site's
 * database: a relay on its embedded database never holds them (3 MiB of its memory).
 */
export const loadPostgres = async () => ({ ...(await import('../storage/postgres/PostgresDatabase')), ...(await import('../storage/postgres/PostgresRelayStore')) });

/** The connection settings: the URL, and the password from its file when one is given. */
export function postgresOptions(opts: DatabaseOptions): PostgresOptions {
  if (opts.databasePasswordFile === undefined) return { url: opts.database };
  return { url: opts.database, password: readSecretLine(opts.databasePasswordFile, 'database password') };
}

export function addMigrateCommand(program: Command): void {
  program.command('migrate')
    .description("bring the site's PostgreSQL database to this relay's schema (once per upgrade, before serve)")
    .addOption(databaseOption())
    .addOption(databasePasswordFileOption())
    .action(async (opts: Partial<DatabaseOptions>) => {
      const db = (await loadPostgres()).PostgresDatabase.connect(postgresOptions({ ...opts, database: requireDatabase(opts) }));
      try {
        const before = await reachable(db);
        const applied = await db.migrate();
        const now = await db.version();
        console.log(applied.length === 0 ? `the database is at schema version ${now} already: nothing to do` : `migrated the database from schema version ${before} to ${now}`);
      } finally {
        await db.close();
      }
    });
}

/** The schema version, or what stands in the way of reaching the database, said plainly. */
async function reachable(db: PostgresDatabase): Promise<number> {
  try {
    return await db.version();
  } catch (error) {
    throw new ConfigurationError(`cannot reach the database: ${describeError(error)}`);
  }
}
