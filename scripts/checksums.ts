/**
 * SHA256SUMS in the format `sha256sum -c` (GNU coreutils) and `shasum -a 256 -c` (macOS) check: one line per
 * file, the hex digest, two spaces, the file name relative to the directory. Written for the installers
 * (`npm run dist`) and for the relay package (`npm run pack:relay`).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

export const CHECKSUMS_FILE = 'SHA256SUMS';

/** Writes `dir/SHA256SUMS` for `files` (paths inside `dir`) and returns its path. */
export function writeChecksums(dir: string, files: readonly string[]): string {
  const lines = files.map((file) => `${createHash('sha256').update(readFileSync(file)).digest('hex')}  ${basename(file)}\n`);
  const path = join(dir, CHECKSUMS_FILE);
  writeFileSync(path, lines.join(''));
  return path;
}
