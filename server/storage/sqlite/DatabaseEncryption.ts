import Database from '@signalapp/sqlcipher';
import { closeSync, existsSync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigurationError } from '../../ConfigurationError';
import { syncDirectory } from '../../durableFiles';
import { FileLock } from '../../FileLock';
import { applyDatabaseKey, attachKeyClause, type DatabaseKey } from './DatabaseKey';

/*
 * The relay database on disk: telling a plaintext file (written before the relay encrypted it) from an
 * encrypted one without opening it, encrypting a plaintext one in place, and copying one under another key.
 * Plaintext never reaches a new file here: the copies are written through SQLCipher's `sqlcipher_export`
 * into an attached database that is already keyed.
 */

export type DatabaseFileState = 'absent' | 'plaintext' | 'encrypted';

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

function sizeOf(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

function startsWithHeader(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const bytes = Buffer.alloc(SQLITE_HEADER.length);
    return readSync(fd, bytes, 0, bytes.length, 0) === bytes.length && bytes.equals(SQLITE_HEADER);
  } finally {
    closeSync(fd);
  }
}

/**
 * What is at `path`, from its first bytes: SQLCipher encrypts page 1 whole (its first 16 bytes are a random
 * salt), a plaintext SQLite file starts with "SQLite format 3". (Page 1 reaches the main file as soon as the
 * relay puts a new database in WAL mode, before anything else is written.) Anything else that is not empty
 * counts as encrypted: only its key can say more, and no key is ever made for it.
 */
export function databaseFileState(path: string): DatabaseFileState {
  // An empty file beside a -wal that is not is no new database: no new key is made over it.
  if (sizeOf(path) === 0) return sizeOf(`${path}-wal`) > 0 ? 'encrypted' : 'absent';
  return startsWithHeader(path) ? 'plaintext' : 'encrypted';
}

function syncFile(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function open(path: string, key: DatabaseKey | null): Database {
  const db = new Database(path);
  try {
    if (key) applyDatabaseKey(db, key, path);
    db.pragma('busy_timeout = 10000');
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * How many accounts the relay database at `path` holds (0 when there is none), opened with `key` (null for a
 * plaintext one); null when it cannot be read (a wrong or missing key, a damaged file).
 */
export function accountsIn(path: string, key: DatabaseKey | null): number | null {
  const state = databaseFileState(path);
  if (state === 'absent') return 0;
  if (state === 'encrypted' && key === null) return null;
  try {
    const db = open(path, state === 'plaintext' ? null : key);
    try {
      return (db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch {
    return null;
  }
}

/** Every table's row count, to compare a copy with its source. */
function rowCounts(db: Database, schema: string): Record<string, number> {
  const tables = db.prepare(`SELECT name FROM ${schema}.sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[];
  return Object.fromEntries(tables.map(({ name }) => [name, (db.prepare(`SELECT count(*) AS n FROM ${schema}."${name.replace(/"/g, '""')}"`).get() as { n: number }).n]));
}

/**
 * Copies the database at `from` (open with its key, or none for plaintext) into a new file `to` under
 * `toKey`: schema, rows, indexes and triggers, then checks the copy (row counts, quick_check) and syncs
 * it. The source's -wal is read through SQLite, so the copy is whole.
 */
export function copyDatabase(from: { path: string; key: DatabaseKey | null }, to: { path: string; key: DatabaseKey | null }): void {
  for (const leftover of [to.path, `${to.path}-journal`]) rmSync(leftover, { force: true });
  const source = open(from.path, from.key);
  try {
    source.exec(`ATTACH '${to.path.replace(/'/g, "''")}' AS target ${attachKeyClause(to.key)}`);
    try {
      source.prepare("SELECT sqlcipher_export('target')").get();
      const expected = JSON.stringify(rowCounts(source, 'main'));
      const copied = JSON.stringify(rowCounts(source, 'target'));
      if (expected !== copied) throw new Error(`the copy of ${from.path} is incomplete`);
      const check = source.pragma('target.quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`the copy of ${from.path} does not check out: ${String(check)}`);
    } finally {
      source.exec('DETACH target');
    }
  } finally {
    source.close();
  }
  syncFile(to.path);
}

/** Waits (up to a minute) for a lock another relay command holds only for as long as an encryption takes. */
function acquireWaiting(path: string): FileLock {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; ; waited += 100) {
    const lock = FileLock.tryAcquire(path);
    if (lock) return lock;
    if (waited >= 60_000) throw new ConfigurationError(`another rounds-server command has been encrypting ${dirname(path)}'s database for a minute; let it finish, then try again`);
    Atomics.wait(pause, 0, 0, 100);
  }
}

export const ENCRYPTING_SUFFIX = '-encrypting';

/**
 * Encrypts a plaintext relay database in place under `key` (the key must already be stored durably where
 * the next open finds it). The encrypted copy is written and synced beside the database, then renamed over
 * it: until that rename the plaintext database is untouched and usable, and a migration cut off before it
 * is simply done again at the next open (the half-written copy is discarded). One command at a time does
 * it (the others wait on a lock, then find the work done). `afterCopy` lets tests stop it there.
 */
export function encryptPlaintextDatabase(path: string, key: DatabaseKey, hooks: { afterCopy?: () => void } = {}): void {
  const lockFile = `${path}${ENCRYPTING_SUFFIX}.lock`;
  const lock = acquireWaiting(lockFile);
  const staging = `${path}${ENCRYPTING_SUFFIX}`;
  let done = false;
  try {
    if (databaseFileState(path) !== 'plaintext') return;
    const plain = open(path, null);
    try {
      // Everything in the -wal goes into the main file first, so nothing is left behind in a -wal of the old file.
      plain.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      plain.close();
    }
    copyDatabase({ path, key: null }, { path: staging, key });
    if (sizeOf(`${path}-wal`) > 0) throw new ConfigurationError(`${path} is in use by another program (an older rounds-server?); stop it, then run the command again`);
    hooks.afterCopy?.();
    renameSync(staging, path);
    // The -shm indexed the old file's (now empty) -wal; SQLite rebuilds it.
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
    syncDirectory(dirname(path));
    done = true;
  } finally {
    rmSync(staging, { force: true });
    rmSync(`${staging}-journal`, { force: true });
    lock.release();
    // Safe to remove once the database is encrypted: a command still waiting on it finds nothing to do.
    if (done) for (const file of [lockFile, `${lockFile}-journal`]) rmSync(file, { force: true });
  }
}
