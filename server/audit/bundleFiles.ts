import { Zip, ZipDeflate, unzipSync, zipSync } from 'fflate';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, write, writeFileSync, writeSync } from 'node:fs';
import { appendFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { mapReader, type BundleReader, type BundleSink } from '../../shared/audit/bundle';

/** Largest bundle the verifier reads from a zip (held in memory), compressed and uncompressed; a directory is read a chunk at a time. */
export const MAX_BUNDLE_BYTES = 1024 * 1024 * 1024;
/** More files than a bundle of ten million records has tiles: anything larger is not a bundle. */
const MAX_BUNDLE_FILES = 200_000;
const CHUNK = 1 << 20;
/** Tile files written at once, aside from the export's thread (libuv runs four), and waiting their turn at most. */
const TILE_WRITES = 2;
const TILES_WAITING = 256;
/** Bytes of the streamed files (records, CSV) handed to libuv's threads and not yet written; past this, written here. */
const STREAM_AHEAD = 16 << 20;

/** Writes a bundle held in memory as a directory, or as a .zip when the path ends in .zip. */
export function writeBundle(path: string, files: ReadonlyMap<string, Uint8Array>): void {
  if (path.toLowerCase().endsWith('.zip')) {
    writeFileSync(path, zipSync(Object.fromEntries(files), { level: 6 }), { mode: 0o600 });
    return;
  }
  const sink = directorySink(path, false);
  for (const [name, bytes] of files) sink.append(name, bytes);
  sink.close();
}

/**
 * A sink that writes a bundle's files under `dir` (tiles in their subdirectories), 0600. With `writeAside`, the
 * export's thread hands the writing to libuv's threads: tiles (thousands of small files, each written once;
 * creating a file costs a few hundred microseconds) and the other files' bytes (events.jsonl and events.csv,
 * some 800 MiB for a million records, whose copying into the page cache took a third of the export's thread),
 * each chunk at its own offset, so they may land in any order. Past STREAM_AHEAD bytes unwritten a chunk is
 * written here, which holds the export back to the disk's pace. `settled` waits for every write, and fails as
 * the first of them failed (a full disk); an append after a failure throws it.
 */
function directorySink(dir: string, writeAside: boolean): BundleSink & { close(): void; settled(): Promise<void> } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const open = new Map<string, number>();
  const seen = new Set<string>();
  const made = new Set<string>();
  // Tiles aside: a few at a time (each holds a file open while it is written), each after any earlier append to it.
  const tiles = new Map<string, Promise<void>>();
  const waiting: (() => void)[] = [];
  let writing = 0;
  // Tile writes handed over and not finished, and the writer waiting for fewer (tileRoom).
  let unfinished = 0;
  let room: { promise: Promise<void>; resolve: () => void } | null = null;
  let failure: unknown = null;
  // Streamed files aside: open all along (never among the few below), each chunk at the offset it was appended at.
  const streamed = new Map<string, { fd: number; size: number }>();
  const streaming = new Set<Promise<void>>();
  let ahead = 0;
  const aside = async (write: () => Promise<void>): Promise<void> => {
    if (writing >= TILE_WRITES) await new Promise<void>((resolve) => waiting.push(resolve));
    writing++;
    try {
      await write();
    } catch (error) {
      failure ??= error;
    } finally {
      writing--;
      unfinished--;
      waiting.shift()?.();
      if (room && (unfinished < TILES_WAITING || failure)) {
        room.resolve();
        room = null;
      }
    }
  };
  return {
    append(name, bytes) {
      if (name.split('/').some((part) => part === '..' || part === '') || name.startsWith('/')) throw new Error(`bad bundle file name ${name}`);
      // Aside while few wait (their bytes are held until written); past that, written here as before.
      if (failure) throw failure;
      if (writeAside && name.startsWith('tile/') && (tiles.has(name) || (!seen.has(name) && waiting.length < TILES_WAITING))) {
        const file = join(dir, name);
        if (!made.has(dirname(file))) {
          mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
          made.add(dirname(file));
        }
        // The bytes are the writer's and never change after.
        const before = tiles.get(name);
        unfinished++;
        tiles.set(name, before ? before.then(() => aside(() => appendFile(file, bytes, { mode: 0o600 }))) : aside(() => writeFile(file, bytes, { mode: 0o600 })));
        return;
      }
      if (writeAside && !name.startsWith('tile/')) {
        let file = streamed.get(name);
        if (!file) {
          file = { fd: openSync(join(dir, name), 'w', 0o600), size: 0 };
          streamed.set(name, file);
        }
        const { fd } = file;
        const at = file.size;
        file.size += bytes.length;
        if (ahead + bytes.length > STREAM_AHEAD) {
          for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
          return;
        }
        // The bytes are the writer's and never change after.
        ahead += bytes.length;
        const written = writeAt(fd, bytes, at).catch((error: unknown) => void (failure ??= error)).finally(() => {
          ahead -= bytes.length;
          streaming.delete(written);
        });
        streaming.add(written);
        return;
      }
      let fd = open.get(name);
      if (fd !== undefined) {
        // Most recently written last: the files written all along (records, CSV) stay open while tiles come and go.
        open.delete(name);
        open.set(name, fd);
      } else {
        const file = join(dir, name);
        if (name.includes('/') && !made.has(dirname(file))) {
          mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
          made.add(dirname(file));
        }
        fd = openSync(file, seen.has(name) ? 'a' : 'w', 0o600);
        seen.add(name);
        open.set(name, fd);
        // Tiles are written once each: keep only a few files open.
        if (open.size > 32) {
          const [oldest, oldFd] = open.entries().next().value as [string, number];
          if (oldest !== name) {
            closeSync(oldFd);
            open.delete(oldest);
          }
        }
      }
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
    },
    close() {
      for (const fd of open.values()) closeSync(fd);
      open.clear();
      for (const { fd } of streamed.values()) closeSync(fd);
      streamed.clear();
    },
    tileRoom() {
      if (!writeAside || unfinished < TILES_WAITING || failure) return null;
      if (!room) {
        let resolve = (): void => undefined;
        const promise = new Promise<void>((r) => (resolve = r));
        room = { promise, resolve };
      }
      return room.promise;
    },
    async settled() {
      await Promise.all([...tiles.values(), ...streaming]);
      if (failure) throw failure;
    },
  };
}

/** All of `bytes` written at `position` of `fd` by libuv's threads (a short write goes on where it stopped). */
async function writeAt(fd: number, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    done += await new Promise<number>((resolve, reject) => {
      write(fd, bytes, done, bytes.length - done, position + done, (error, n) => (error ? reject(error) : resolve(n)));
    });
  }
}

/**
 * Writes a bundle a file at a time with `build`, to a directory, or to a .zip (built in a directory beside
 * it first, then compressed a chunk at a time), so an export of millions of records never sits in memory.
 */
export async function writeBundleStreaming(path: string, build: (sink: BundleSink) => Promise<void>): Promise<void> {
  const zip = path.toLowerCase().endsWith('.zip');
  const dir = zip ? `${path}.partial` : path;
  const existed = existsSync(dir);
  if (zip) rmSync(dir, { recursive: true, force: true });
  const sink = directorySink(dir, true);
  try {
    await build(sink);
    await sink.settled();
  } catch (error) {
    // A refused export leaves nothing behind (a directory that was there before stays, with what it held).
    await sink.settled().catch(() => undefined);
    sink.close();
    if (zip || !existed) rmSync(dir, { recursive: true, force: true });
    throw error;
  } finally {
    sink.close();
  }
  if (!zip) return;
  try {
    zipDirectory(dir, path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function zipDirectory(dir: string, out: string): void {
  const fd = openSync(out, 'w', 0o600);
  try {
    let failure: Error | null = null;
    const zip = new Zip((error, chunk) => {
      if (error) failure = error;
      else writeSync(fd, chunk);
    });
    const reader = directoryReader(dir);
    for (const name of reader.names()) {
      const entry = new ZipDeflate(name, { level: 6 });
      zip.add(entry);
      let last: Uint8Array | null = null;
      for (const chunk of reader.chunks(name)) {
        if (last) entry.push(last);
        last = chunk.slice();
      }
      entry.push(last ?? new Uint8Array(0), true);
    }
    zip.end();
    if (failure) throw failure;
  } finally {
    closeSync(fd);
  }
}

/** Every regular file under `dir` (symbolic links are not followed); a clear Error past MAX_BUNDLE_FILES. */
function listFiles(dir: string, prefix = '', found: string[] = []): string[] {
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const name = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) listFiles(dir, name, found);
    else if (entry.isFile()) found.push(name);
    if (found.length > MAX_BUNDLE_FILES) throw new Error(`${dir} holds more than ${MAX_BUNDLE_FILES} files: it is not an audit bundle`);
  }
  return found;
}

/** A bundle directory, read a chunk at a time (tiles in their subdirectories). */
function directoryReader(dir: string): BundleReader {
  const names = listFiles(dir);
  const present = new Set(names);
  return {
    has: (name) => present.has(name),
    names: () => names,
    read: (name) => (present.has(name) ? readFileSync(join(dir, name)) : null),
    *chunks(name) {
      if (present.has(name)) yield* fileChunks(join(dir, name));
    },
  };
}

/**
 * A file's bytes from `start` up to `end`, a chunk at a time. Each chunk is read into the same buffer: it holds
 * until the next is asked for (a reader that keeps one copies it). A new megabyte per chunk cost the verifier
 * of a year's bundle more in garbage collection (V8 collects as outside memory grows) than the reading did.
 */
export function* fileChunks(file: string, start = 0, end = Infinity): Generator<Uint8Array> {
  const fd = openSync(file, 'r');
  try {
    // No bigger than the file (a tile is 8 KiB); one that grew since is read on to its end all the same.
    // A Uint8Array, not a Buffer: a reader's slice() of a chunk must copy it (Buffer's would share the memory).
    const buffer = new Uint8Array(Math.max(1, Math.min(CHUNK, end - start, fstatSync(fd).size - start)));
    for (let at = start; at < end;) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, end - at), at);
      if (n === 0) return;
      at += n;
      yield buffer.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

/** Opens a bundle from a directory or a .zip; a clear Error for anything else. */
export function openBundle(path: string): BundleReader {
  if (!existsSync(path)) throw new Error(`${path} does not exist`);
  const stat = statSync(path);
  if (stat.isDirectory()) return directoryReader(path);
  return mapReader(readZip(path, stat.size));
}

function readZip(path: string, size: number): Map<string, Uint8Array> {
  if (size > MAX_BUNDLE_BYTES) throw new Error(`${path} is larger than ${MAX_BUNDLE_BYTES} bytes: unzip it and verify the directory`);
  const bytes = readFileSync(path);
  if (bytes.subarray(0, 4).toString('binary') !== 'PK\x03\x04') throw new Error(`${path} is neither a bundle directory nor a zip file`);
  // Sizes and names are read from the zip's directory before anything is inflated: a zip bomb, or two entries of
  // one name (an unzip tool shows the first, a verifier the last), is refused before it costs anything.
  const seen = new Set<string>();
  let declared = 0;
  let refusal: string | null = null;
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes, {
      filter: (file) => {
        if (seen.has(file.name)) refusal ??= `it holds two entries named ${file.name}`;
        seen.add(file.name);
        declared += file.originalSize;
        if (declared > MAX_BUNDLE_BYTES) refusal ??= `it would inflate to more than ${MAX_BUNDLE_BYTES} bytes`;
        if (seen.size > MAX_BUNDLE_FILES) refusal ??= `it holds more than ${MAX_BUNDLE_FILES} files`;
        return refusal === null;
      },
    });
  } catch (error) {
    throw new Error(`${path} is not a readable zip file (${(error as Error).message})`, { cause: error });
  }
  if (refusal) throw new Error(`${path} is not an audit bundle: ${refusal as string}; unzip it and verify the directory if you trust it`);
  // Files at the top level, or all inside one folder (as zipping a directory gives).
  const names = Object.keys(entries).filter((n) => !n.endsWith('/'));
  const tops = new Set(names.map((n) => n.split('/')[0]));
  const [top] = tops;
  const prefix = tops.size === 1 && top && names.includes(`${top}/SHA256SUMS`) ? `${top}/` : '';
  return new Map(names.flatMap((n) => (entries[n] ? [[n.slice(prefix.length), entries[n]] as const] : [])));
}

/** Reads a whole bundle into memory (small bundles: tests, tools). */
export function readBundle(path: string): Map<string, Uint8Array> {
  const reader = openBundle(path);
  return new Map(reader.names().map((name) => [name, reader.read(name) ?? new Uint8Array()] as const));
}
