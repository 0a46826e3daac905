import { lstat, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import type { SqlRunner } from '../storage/ProfileDatabase';
import type { SaveJournal } from './savedCopy';

/** The name savedCopy.ts gives its temporary files; nothing else is ever removed. */
const PART_NAME = /^\.rounds-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.part$/;

/**
 * The temporary files of this profile's saves while they exist (the profile's `pending_saves`), and their removal
 * after a save was interrupted (the process killed, the power cut). A leftover is removed only when it is still
 * the very file Rounds created: the same device and file id (inode) as when it was made, a plain file (never a
 * link), under the name Rounds gave it. Anything else at that path (a file the user put there since) stays.
 * Paths are the user's file names: never logged.
 */
export class PendingSaves implements SaveJournal {
  constructor(private readonly db: SqlRunner, private readonly now: () => number) {}

  created(path: string, identity: string): void {
    this.db.run('INSERT OR REPLACE INTO pending_saves (part_path, identity, started_at) VALUES ($p, $i, $at)', { p: path, i: identity, at: this.now() });
  }

  ended(path: string): void {
    this.db.run('DELETE FROM pending_saves WHERE part_path = $p', { p: path });
  }

  /** Removes what interrupted saves left (at start or unlock); how many files went. A file it cannot remove stays noted, to try again. */
  async removeLeftovers(): Promise<number> {
    let removed = 0;
    for (const { part_path: path, identity } of this.db.all<{ part_path: string; identity: string }>('SELECT part_path, identity FROM pending_saves')) {
      const found = await lstat(path, { bigint: true }).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : undefined));
      // Unreadable for now (a network folder away): left noted, to try at the next start.
      if (found === undefined) continue;
      if (found && found.isFile() && PART_NAME.test(basename(path)) && fileIdentity(found) === identity) {
        try {
          await rm(path);
          removed++;
        } catch {
          continue;
        }
      }
      this.ended(path);
    }
    return removed;
  }
}

/** A file's identity as the OS gives it (device and file id), to tell the file Rounds made from another put at its path. */
export function fileIdentity(stats: { dev: bigint; ino: bigint }): string {
  return `${stats.dev}:${stats.ino}`;
}
