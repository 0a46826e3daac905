import { chmodSync, existsSync, linkSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigurationError } from './ConfigurationError';
import { syncDirectory, writeDurably } from './durableFiles';
import { databaseFileState, encryptPlaintextDatabase } from './storage/sqlite/DatabaseEncryption';
import { formatDatabaseKey, newDatabaseKey, parseDatabaseKey, type DatabaseKey } from './storage/sqlite/DatabaseKey';
import { DATABASE_FILE } from './storage/sqlite/SqliteRelayStore';

/*
 * Where the relay database's key is kept (secret boundary: the key is read and written here only, never
 * printed). Never inside the database. In order:
 *  1. `--database-key-file FILE`, e.g. on another volume than the data;
 *  2. the systemd credential `database-key` ($CREDENTIALS_DIRECTORY/database-key, from the unit's
 *     LoadCredential= or LoadCredentialEncrypted=), when the relay runs under such a unit;
 *  3. `database.key` in the data directory (0600, the relay's user only), made at first use.
 * A key that is missing while the encrypted database is there is an error that says what to do: a new key
 * is only ever made for a database that does not exist yet (or is still plaintext, and is encrypted with it).
 */
export const DATABASE_KEY_FILE = 'database.key';
export const DATABASE_KEY_CREDENTIAL = 'database-key';

export interface DatabaseKeyLocation {
  readonly path: string;
  /** How messages name it. */
  readonly describe: string;
  /** A systemd credential is systemd's to provide: the relay never makes one. */
  readonly creatable: boolean;
  /** The default file, beside the database: made 0600 on every open, as the database is. */
  readonly inDataDir: boolean;
}

export function databaseKeyLocation(dataDir: string, keyFile?: string, env: NodeJS.ProcessEnv = process.env): DatabaseKeyLocation {
  if (keyFile) {
    const path = resolve(keyFile);
    return { path, describe: `the database key file ${path} (--database-key-file)`, creatable: true, inDataDir: false };
  }
  const credential = env.CREDENTIALS_DIRECTORY ? join(env.CREDENTIALS_DIRECTORY, DATABASE_KEY_CREDENTIAL) : null;
  if (credential && existsSync(credential)) return { path: credential, describe: `the systemd credential ${DATABASE_KEY_CREDENTIAL} (${credential})`, creatable: false, inDataDir: false };
  const path = join(dataDir, DATABASE_KEY_FILE);
  return { path, describe: `the database key file ${path}`, creatable: true, inDataDir: true };
}

/** The key kept at `location`, or null when there is no file there. */
export function readDatabaseKey(location: DatabaseKeyLocation): DatabaseKey | null {
  if (!existsSync(location.path)) return null;
  const stat = statSync(location.path);
  if (!stat.isFile() || stat.size > 1024) throw new ConfigurationError(`${location.describe} does not hold a database key (64 hexadecimal digits)`);
  if (location.inDataDir) chmodSync(location.path, 0o600);
  else if (process.platform !== 'win32' && (stat.mode & 0o004) !== 0) {
    throw new ConfigurationError(`${location.describe} is readable by every user of this machine: make it readable by the relay's user only (chmod 0600, or 0640 with the relay's group)`);
  }
  return parseDatabaseKey(readFileSync(location.path, 'utf8'), location.describe);
}

/**
 * Stores `key` at `path` unless a key is there already, all at once: written and synced beside it, then
 * hard-linked into place (which fails if another command stored one first; its key is the one returned).
 */
export function storeDatabaseKey(path: string, key: DatabaseKey): DatabaseKey {
  const partial = `${path}.${process.pid}.partial`;
  try {
    rmSync(partial, { force: true });
    writeDurably(partial, formatDatabaseKey(key), 0o600, 'wx');
    linkSync(partial, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') throw new ConfigurationError(`cannot store the database key at ${path} (${code ?? (error as Error).message}): its folder must exist and be writable by the relay's user`, { cause: error });
  } finally {
    rmSync(partial, { force: true });
  }
  syncDirectory(dirname(path));
  return parseDatabaseKey(readFileSync(path, 'utf8'), path);
}

/** What every command does before it opens the relay database: the key, made on first use. */
export function unlockRelayDatabase(dataDir: string, options: { keyFile?: string; env?: NodeJS.ProcessEnv } = {}): { key: DatabaseKey; location: DatabaseKeyLocation } {
  const location = databaseKeyLocation(dataDir, options.keyFile, options.env);
  const database = join(dataDir, DATABASE_FILE);
  const state = databaseFileState(database);
  let key = readDatabaseKey(location);
  if (!key) {
    if (state === 'encrypted') {
      throw new ConfigurationError(`${database} is encrypted, and its key, ${location.describe}, is missing: put back the copy of the key you keep (docs/deployment.md, "The keys"), or name it with --database-key-file. Nothing was changed; without the key only a restore from a backup brings the data back`);
    }
    key = storeDatabaseKey(location.path, newDatabaseKey());
  }
  // A database from a relay before encryption at rest: encrypted now, in place, with this key.
  if (state === 'plaintext') encryptPlaintextDatabase(database, key);
  return { key, location };
}

/** The message for a key that does not open the database (SQLCipher cannot tell it from a damaged file). */
export function wrongKeyMessage(dataDir: string, location: DatabaseKeyLocation): string {
  return `${join(dataDir, DATABASE_FILE)} cannot be opened with ${location.describe}: that is not this database's key (or the database is damaged). Nothing was changed. Give the right key (--database-key-file, or put back the copy you keep), or restore the last backup`;
}
