import { lstat, rm, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from '../Logger';
import type { SqlRunner } from '../storage/ProfileDatabase';
import type { SaveJournal } from './savedCopy';

/** The name savedCopy.ts gives its temporary files; nothing else is ever removed. */
const PART_NAME = /^\.rounds-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.part$/;

/** How long a leftover that cannot be checked (its drive away, or not the file Rounds made) stays noted. */
export const LEFTOVER_KEPT_MS = 90 * 24 * 60 * 60 * 1000;

interface PendingSave {
  readonly part_path: string;
  readonly identity: string;
  readonly parent_identity: string;
  readonly started_at: number;
}

/** The temporary files of saves going on in this process, whichever client of the profile started them. */
const underway = new Set<string>();

/** Runs a save writing the temporary file at `path`: removeLeftovers leaves that file alone meanwhile. */
export async function whileUnderway<T>(path: string, save: () => Promise<T>): Promise<T> {
  underway.add(path);
  try {
    return await save();
  } finally {
    underway.delete(path);
  }
}

/** What became of one noted leftover: removed, known gone (forget it), or not to be decided now (keep it noted). */
type Outcome = 'removed' | 'gone' | 'unsure';

/**
 * The temporary files of this profile's saves while they exist (the profile's `pending_saves`), and their removal
 * after a save was interrupted (the process killed, the power cut). A leftover is removed only when it is still
 * the very file Rounds created: the same device and file id (inode) as when it was made, a plain file (never a
 * link), under the name Rounds gave it. Anything else at that path (a file the user put there since) stays.
 * A note is forgotten only when the file is known gone: removed, or not found in the very folder it was made in.
 * A folder away (a USB stick not plugged in, a network share not mounted) or another in its place (a drive mounted
 * again gets another device number; FAT and exFAT make inode numbers up at each mount) proves nothing: the note
 * stays, to try at the next start, until it is LEFTOVER_KEPT_MS old; then it is dropped, and that is logged.
 * Paths are the user's file names: never logged.
 */
export class PendingSaves implements SaveJournal {
  constructor(private readonly db: SqlRunner, private readonly now: () => number, private readonly logger: Logger) {}

  /**
   * Notes the file before a byte of plaintext goes into it, durably: the profile runs WAL with synchronous=NORMAL,
   * whose last commits a power cut may lose, and a lost note would be a leftover nothing ever removes. So this one
   * write is synced to disk (synchronous=FULL for it) before the save goes on.
   */
  created(path: string, identity: string, parentIdentity: string): void {
    this.db.run('PRAGMA synchronous = FULL');
    try {
      this.db.run('INSERT OR REPLACE INTO pending_saves (part_path, identity, parent_identity, started_at) VALUES ($p, $i, $d, $at)',
        { p: path, i: identity, d: parentIdentity, at: this.now() });
    } finally {
      this.db.run('PRAGMA synchronous = NORMAL');
    }
  }

  ended(path: string): void {
    this.db.run('DELETE FROM pending_saves WHERE part_path = $p', { p: path });
  }

  /** Removes what interrupted saves left (at start or unlock); how many files went. A file it cannot check stays noted. */
  async removeLeftovers(): Promise<number> {
    let removed = 0;
    let unchecked = 0;
    for (const save of this.db.all<PendingSave>('SELECT part_path, identity, parent_identity, started_at FROM pending_saves')) {
      // A save still going on (the profile locked and unlocked again meanwhile): not a leftover.
      if (underway.has(save.part_path)) continue;
      const outcome = await leftover(save);
      if (outcome === 'removed') removed++;
      if (outcome === 'unsure' && this.now() - save.started_at < LEFTOVER_KEPT_MS) continue;
      if (outcome === 'unsure') unchecked++;
      this.ended(save.part_path);
    }
    if (unchecked > 0) {
      this.logger.error(`attachments: ${unchecked} temporary file(s) of interrupted saves could not be checked for ${LEFTOVER_KEPT_MS / 86_400_000} days and are no longer looked for`);
    }
    return removed;
  }
}

/** Removes the leftover when it is certainly the file Rounds made; says what became of it. */
async function leftover({ part_path: path, identity, parent_identity: parentIdentity }: PendingSave): Promise<Outcome> {
  const found = await lstat(path, { bigint: true }).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : undefined));
  // Unreadable for now (a network folder away, no permission): left noted.
  if (found === undefined) return 'unsure';
  if (found === null) {
    // Not there: gone for certain only when the folder it was made in is there, and is that same folder.
    const folder = await stat(dirname(path), { bigint: true }).catch(() => undefined);
    return folder?.isDirectory() && fileIdentity(folder) === parentIdentity ? 'gone' : 'unsure';
  }
  if (!found.isFile() || !PART_NAME.test(basename(path)) || fileIdentity(found) !== identity) return 'unsure';
  return rm(path).then(() => 'removed' as const, () => 'unsure' as const);
}

/** A file's identity as the OS gives it (device and file id), to tell the file Rounds made from another put at its path. */
export function fileIdentity(stats: { dev: bigint; ino: bigint }): string {
  return `${stats.dev}:${stats.ino}`;
}
