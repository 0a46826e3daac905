import { unzipSync, zipSync } from 'fflate';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Largest bundle the verifier reads (zip or directory). */
export const MAX_BUNDLE_BYTES = 2 * 1024 * 1024 * 1024;

/** Writes a bundle as a directory, or as a .zip when the path ends in .zip. */
export function writeBundle(path: string, files: ReadonlyMap<string, Uint8Array>): void {
  if (path.toLowerCase().endsWith('.zip')) {
    writeFileSync(path, zipSync(Object.fromEntries(files), { level: 6 }), { mode: 0o600 });
    return;
  }
  mkdirSync(path, { recursive: true, mode: 0o700 });
  for (const [name, bytes] of files) writeFileSync(join(path, name), bytes, { mode: 0o600 });
}

/** Reads a bundle from a directory or a .zip; a clear Error for anything else. */
export function readBundle(path: string): Map<string, Uint8Array> {
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  const stat = statSync(path);
  if (stat.isDirectory()) {
    const files = new Map<string, Uint8Array>();
    for (const name of readdirSync(path)) {
      const file = join(path, name);
      if (statSync(file).isFile()) files.set(name, readFileSync(file));
    }
    return files;
  }
  if (stat.size > MAX_BUNDLE_BYTES) throw new Error(`${path} is larger than ${MAX_BUNDLE_BYTES} bytes`);
  const bytes = readFileSync(path);
  if (bytes.subarray(0, 4).toString('binary') !== 'PK\x03\x04') throw new Error(`${path} is neither a bundle directory nor a zip file`);
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes);
  } catch (error) {
    throw new Error(`${path} is not a readable zip file (${(error as Error).message})`, { cause: error });
  }
  // Files at the top level, or all inside one folder (as zipping a directory gives).
  const names = Object.keys(entries).filter((n) => !n.endsWith('/'));
  const folders = new Set(names.map((n) => n.split('/')[0]));
  const [folder] = folders;
  const prefix = names.every((n) => n.includes('/')) && folders.size === 1 && folder ? `${folder}/` : '';
  return new Map(names.flatMap((n) => (entries[n] ? [[n.slice(prefix.length), entries[n]] as const] : [])));
}
