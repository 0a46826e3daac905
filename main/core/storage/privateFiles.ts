import { chmodSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/*
 * Everything the client writes is readable by the clinician's own OS account only: files 0600,
 * directories 0700. (On Windows the profile lives in the user's own AppData, whose ACL already does this;
 * chmod there changes only the read-only bit, so these calls are harmless.)
 */
export const PRIVATE_FILE_MODE = 0o600;
export const PRIVATE_DIR_MODE = 0o700;

/** Creates the directory (and its parents) if needed and makes it 0700, also when it already existed. */
export function privateDirectory(path: string): string {
  mkdirSync(path, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(path, PRIVATE_DIR_MODE);
  return path;
}

/**
 * Makes sure `path` exists as a 0600 file before a library (SQLite) opens it: SQLite creates a new
 * database 0644 under the usual umask, and gives its -wal and -shm files the mode of the database file.
 */
export function privateFile(path: string): string {
  if (!existsSync(path)) closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
  chmodSync(path, PRIVATE_FILE_MODE);
  return path;
}

/**
 * Tightens what an earlier version left readable (files 0644, directories 0755) under `root`: every file
 * becomes 0600 and every directory 0700. Symbolic links are not followed.
 */
export function restrictTree(root: string): void {
  if (!existsSync(root)) return;
  const walk = (path: string) => {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return;
    if (stat.isDirectory()) {
      if ((stat.mode & 0o777) !== PRIVATE_DIR_MODE) chmodSync(path, PRIVATE_DIR_MODE);
      for (const name of readdirSync(path)) walk(join(path, name));
    } else if (stat.isFile() && (stat.mode & 0o777) !== PRIVATE_FILE_MODE) {
      chmodSync(path, PRIVATE_FILE_MODE);
    }
  };
  walk(root);
}
