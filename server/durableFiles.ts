import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Forces a directory's entries (a rename, a new file) to disk. Windows cannot open a directory to sync it; NTFS journals renames itself. */
export function syncDirectory(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a file and forces it, and its directory entry, to disk. `wx` refuses a file that exists. */
export function writeDurably(path: string, data: string | Uint8Array, mode: number, flag: 'w' | 'wx' = 'w'): void {
  const fd = openSync(path, flag, mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  syncDirectory(dirname(path));
}

/** Replaces `path` all at once: the new content is written and synced beside it, then renamed over it. */
export function replaceDurably(path: string, data: string | Uint8Array, mode: number): void {
  const partial = `${path}.partial`;
  try {
    writeDurably(partial, data, mode);
    renameSync(partial, path);
    syncDirectory(dirname(path));
  } finally {
    rmSync(partial, { force: true });
  }
}
