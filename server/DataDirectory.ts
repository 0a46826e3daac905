import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError } from './ConfigurationError';
import { FileLock } from './FileLock';

/*
 * Rules for the relay's data directory that every command keeps:
 *  - one relay serves it at a time, and nothing restores into it while one does (relay.lock, a lock the
 *    OS drops when the process dies; relay.pid only names the holder in messages). Never delete
 *    relay.lock (nor its -journal) by hand: the lock is on that file;
 *  - every file in it belongs to its owner, the relay's user: a command run as anyone else (root without
 *    `sudo -u`) is refused, since the files it made would lock the relay out;
 *  - an interrupted restore is finished before anything else uses it.
 */
export const LOCK_FILE = 'relay.lock';
export const PID_FILE = 'relay.pid';
export const RESTORE_MARKER = 'restore-in-progress';
export const RESTORE_STAGING_PREFIX = '.restore-';

export function assertOwnedByCaller(dataDir: string): void {
  if (typeof process.getuid !== 'function' || !existsSync(dataDir)) return;
  const owner = statSync(dataDir).uid;
  const me = process.getuid();
  if (owner !== me) {
    throw new ConfigurationError(`${dataDir} belongs to user id ${owner}, but this runs as user id ${me}: run it as the directory's owner (sudo -u rounds-relay rounds-server …), so that every file stays the relay's`);
  }
}

/** Removes what a restore staged beside the data directory (it may hold a key); only with the directory's claim held. */
export function removeRestoreStaging(dataDir: string): void {
  for (const name of readdirSync(dataDir)) if (name.startsWith(RESTORE_STAGING_PREFIX)) rmSync(join(dataDir, name), { recursive: true, force: true });
}

export function assertNoInterruptedRestore(dataDir: string): void {
  if (existsSync(join(dataDir, RESTORE_MARKER))) {
    throw new ConfigurationError(`a restore into ${dataDir} was interrupted: run the same \`rounds-server restore --data ${dataDir} --from FILE --force\` again before using it`);
  }
}

function holder(dataDir: string): string {
  try {
    const pid = readFileSync(join(dataDir, PID_FILE), 'utf8').trim();
    return /^\d+$/.test(pid) ? ` (pid ${pid})` : '';
  } catch {
    return '';
  }
}

/** Claims the directory for a relay (`serve`) or a restore; returns the release. */
export function claimDataDirectory(dataDir: string, purpose: 'serve' | 'restore'): () => void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  assertOwnedByCaller(dataDir);
  const lock = FileLock.tryAcquire(join(dataDir, LOCK_FILE));
  if (!lock) {
    throw new ConfigurationError(purpose === 'serve' ? `another relay${holder(dataDir)} serves ${dataDir}; stop it first` : `the relay${holder(dataDir)} is running on ${dataDir}; stop it before restoring`);
  }
  const pidFile = join(dataDir, PID_FILE);
  try {
    writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o644 });
    // A relay about to serve: staging that a restore cut off before its marker left behind (it may hold a key) goes.
    if (purpose === 'serve') removeRestoreStaging(dataDir);
  } catch (error) {
    lock.release();
    throw error;
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    try {
      if (existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(process.pid)) rmSync(pidFile);
    } finally {
      lock.release();
    }
  };
}
