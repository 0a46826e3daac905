import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock, type Clock } from './Clock';
import { ConfigurationError } from './ConfigurationError';
import { assertNoInterruptedRestore, assertOwnedByCaller } from './DataDirectory';
import { unlockRelayDatabase, wrongKeyMessage } from './DatabaseKeyFile';
import { DatabaseKeyError } from './storage/sqlite/DatabaseKey';
import { DATABASE_FILE, SqliteRelayStore } from './storage/sqlite/SqliteRelayStore';

/**
 * Opens the data directory's store. `serve` creates the directory; admin commands refuse one that does
 * not exist (a typo must not check or export an empty new database). The directory and its files are
 * made readable by the relay's own user only, on every open. The database is encrypted with its key
 * (DatabaseKeyFile.ts: `databaseKeyFile`, a systemd credential, or `database.key` in the directory).
 */
export function openStore(dataDir: string, clock: Clock = systemClock, options: { create?: boolean; databaseKeyFile?: string } = { create: true }): SqliteRelayStore {
  if (!existsSync(dataDir)) {
    if (!options.create) throw new ConfigurationError(`no relay data directory at ${dataDir}`);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  }
  assertOwnedByCaller(dataDir);
  assertNoInterruptedRestore(dataDir);
  chmodSync(dataDir, 0o700);
  const { key, location } = unlockRelayDatabase(dataDir, options.databaseKeyFile ? { keyFile: options.databaseKeyFile } : {});
  let store: SqliteRelayStore;
  try {
    store = new SqliteRelayStore(dataDir, clock, key);
  } catch (error) {
    if (error instanceof DatabaseKeyError) throw new ConfigurationError(wrongKeyMessage(dataDir, location), { cause: error });
    throw error;
  }
  for (const name of readdirSync(dataDir)) if (name.startsWith(DATABASE_FILE)) chmodSync(join(dataDir, name), 0o600);
  return store;
}
