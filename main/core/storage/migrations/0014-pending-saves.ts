/**
 * Issue 20: saves of an attachment under way. A save writes a hidden `.rounds-<id>.part` file beside the place the
 * user chose, then renames it; a process killed or a power cut in between leaves that file. Each one is noted here
 * (its path, and the file's identity as the OS gave it when Rounds created it) while it exists, so that the next
 * start removes what an interrupted save left, and only that: a file at the path that is not the one Rounds made
 * stays. The folder's identity too (`parent_identity`): a file not found is forgotten only when its folder is still
 * the same one, not while the USB stick or network share that held it is away or another is mounted there.
 * Paths are the user's own file names: kept in the encrypted profile only, never logged.
 */
export const name = 'pending-saves';

export const up = `
CREATE TABLE pending_saves (
  part_path TEXT PRIMARY KEY,
  identity TEXT NOT NULL,
  parent_identity TEXT NOT NULL,
  started_at INTEGER NOT NULL
) STRICT;
`;
