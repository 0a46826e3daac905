import { resolve } from 'node:path';
import { describeError } from '../../shared/errors';
import { systemClock } from '../Clock';
import { ConfigurationError } from '../ConfigurationError';
import { openStore } from '../openStore';
import type { RelayStore } from '../storage/RelayStore';
import type { DataOptions } from '../cliOptions';
import { loadPostgres, postgresOptions } from './migrateCommand';

/* Loaded by the commands that open a store (serve, withStore in server/cliOptions.ts, directory sync), when they run. */

/**
 * The store a command works on: the site's PostgreSQL database when --database (or ROUNDS_DATABASE_URL, or
 * the config file's `database`) names one, whose schema must be this relay's; otherwise the embedded
 * database in the data directory (`create`: serve makes the directory; admin commands refuse a missing one).
 */
export async function openConfiguredStore(opts: DataOptions, create: boolean, fromFile?: { url: string; passwordFile?: string }): Promise<RelayStore> {
  const database = opts.database ?? fromFile?.url;
  if (database === undefined) return openStore(resolve(opts.data), systemClock, { create, ...(opts.databaseKeyFile ? { databaseKeyFile: opts.databaseKeyFile } : {}) });
  const passwordFile = opts.databasePasswordFile ?? (opts.database === undefined ? fromFile?.passwordFile : undefined);
  const { PostgresDatabase, PostgresRelayStore } = await loadPostgres();
  const db = PostgresDatabase.connect(postgresOptions({ database, ...(passwordFile ? { databasePasswordFile: passwordFile } : {}) }));
  try {
    return await PostgresRelayStore.open(db, systemClock);
  } catch (error) {
    await db.close();
    if (error instanceof ConfigurationError) throw error;
    throw new ConfigurationError(`cannot open the PostgreSQL database ${database}: ${describeError(error)}`, { cause: error });
  }
}
