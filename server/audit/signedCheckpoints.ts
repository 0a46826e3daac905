import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { syncDirectory } from '../durableFiles';

/**
 * The relay's memory of every checkpoint it signed (c2sp.org/tlog-checkpoint: a log MUST NOT sign a
 * checkpoint inconsistent with one it signed before). It lives in the data directory beside the database,
 * not in it, so that a restore, which rolls the database back, does not roll it back: a restore never
 * replaces or truncates this file, it only adds the entries of the backup's copy it does not hold yet.
 *
 * One JSON line per checkpoint, appended with O_APPEND in a single write and synced, so that the relay and
 * an admin command exporting at the same time each add whole lines. A line cut short by a crash (the last
 * one) is ignored, and the next append starts on a new line, so it never damages a later entry.
 * Signed checkpoints are public (every bundle carries one): nothing secret is kept here.
 */
export const SIGNED_CHECKPOINTS_FILE = 'audit-checkpoints.jsonl';

const SignedCheckpointEntrySchema = z.strictObject({
  /** The log's name, as in the checkpoint. */
  origin: z.string().min(1).max(200),
  /** The tree size the checkpoint signs. */
  size: z.number().int().min(0),
  /** The tree's root hash, base64 (as in the checkpoint). */
  root: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
  /** The signed note, exactly as the bundle carries it. */
  note: z.string().min(1).max(10_000),
  /** When it was signed (ms since the epoch). */
  at: z.number(),
});
export type SignedCheckpointEntry = z.infer<typeof SignedCheckpointEntrySchema>;

const MAX_FILE_BYTES = 256 * 1024 * 1024;

function readEntries(path: string): SignedCheckpointEntry[] {
  if (!existsSync(path)) return [];
  const bytes = readFileSync(path);
  if (bytes.length > MAX_FILE_BYTES) throw new Error(`${path} is larger than ${MAX_FILE_BYTES} bytes: it is not the relay's checkpoint memory`);
  return parseSignedCheckpoints(bytes);
}

/** Whether the file ends with a line break (or is empty): otherwise its last append was cut short. */
function endsWithNewline(fd: number): boolean {
  const size = fstatSync(fd).size;
  if (size === 0) return true;
  const last = Buffer.alloc(1);
  readSync(fd, last, 0, 1, size - 1);
  return last[0] === 0x0a;
}

function append(dataDir: string, entries: readonly SignedCheckpointEntry[]): void {
  if (entries.length === 0) return;
  const path = join(dataDir, SIGNED_CHECKPOINTS_FILE);
  const created = !existsSync(path);
  // 'a': O_APPEND, so each write lands at the end whoever else writes; one write per call.
  const fd = openSync(path, 'a+', 0o644);
  try {
    const lines = entries.map((e) => `${JSON.stringify(SignedCheckpointEntrySchema.parse(e))}\n`).join('');
    const bytes = Buffer.from(endsWithNewline(fd) ? lines : `\n${lines}`);
    // One write: appends by other processes land before or after it, never inside.
    const written = writeSync(fd, bytes);
    if (written !== bytes.length) throw new Error(`${path}: only ${written} of ${bytes.length} bytes could be appended (is the disk full?)`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (created) syncDirectory(dataDir);
}

/** Remembers a checkpoint the relay signed (before the bundle that carries it is handed out). */
export function rememberCheckpoint(dataDir: string, entry: SignedCheckpointEntry): void {
  append(dataDir, [entry]);
}

/** Every checkpoint the relay remembers signing (of one log, if `origin` is given), in the order they were remembered. */
export function signedCheckpoints(dataDir: string, origin?: string): SignedCheckpointEntry[] {
  const all = readEntries(join(dataDir, SIGNED_CHECKPOINTS_FILE));
  return origin === undefined ? all : all.filter((e) => e.origin === origin);
}

/** The largest checkpoint signed for `origin` (the latest of them when several have that size), or null when none was. */
export function lastSignedCheckpoint(dataDir: string, origin: string): SignedCheckpointEntry | null {
  return largest(signedCheckpoints(dataDir, origin));
}

export function largest(entries: readonly SignedCheckpointEntry[]): SignedCheckpointEntry | null {
  let best: SignedCheckpointEntry | null = null;
  for (const e of entries) if (!best || e.size >= best.size) best = e;
  return best;
}

/** The entries of the file's bytes (or a backup's copy of them). */
export function parseSignedCheckpoints(bytes: Uint8Array): SignedCheckpointEntry[] {
  const text = Buffer.from(bytes).toString('utf8');
  const lines = text.split('\n');
  // Without a final line break the last line is an append cut short: it is not an entry.
  if (!text.endsWith('\n')) lines.pop();
  const entries: SignedCheckpointEntry[] = [];
  for (const line of lines) {
    if (line.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue; // a fragment a crash left, followed by a later append's line break
    }
    const entry = SignedCheckpointEntrySchema.safeParse(parsed);
    if (entry.success) entries.push(entry.data);
  }
  return entries;
}

/**
 * A restore's merge: the entries of `others` (the backup's copy) that the data directory's file does not
 * hold yet are appended to it. Nothing is ever removed: the union stays. Running it again adds nothing.
 */
export function mergeSignedCheckpoints(dataDir: string, others: readonly SignedCheckpointEntry[]): number {
  const known = new Set(signedCheckpoints(dataDir).map((e) => e.note));
  const added = others.filter((e) => {
    if (known.has(e.note)) return false;
    known.add(e.note);
    return true;
  });
  append(dataDir, added);
  return added.length;
}
