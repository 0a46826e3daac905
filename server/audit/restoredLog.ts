import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { RELAY_ORIGIN_PREFIX } from '../../shared/audit/bundle';
import { RestoreDetailsSchema, restoreDetails, type RememberedCheckpoint, type RestoreDetails } from '../../shared/audit/restoreLink';
import { RESTORE_MARKER } from '../DataDirectory';
import { existingLogOrigin, restoredLogId } from './auditKey';
import { largest, parseSignedCheckpoints, signedCheckpoints, type SignedCheckpointEntry } from './signedCheckpoints';
import { signedByRelay } from './trustedCheckpoints';

/*
 * The log a restore starts (see shared/audit/restoreLink.ts for why there is one): its id, and its first
 * record's details, worked out from the backup, the data directory it replaces and the checkpoints the
 * relay remembers signing (the directory's memory and the backup's copy of it).
 */

/** What the restore marker holds: the backup, and the log the restore starts, so that a restore run again after being cut off starts the same one. */
const MarkerSchema = z.strictObject({ file: z.string(), logId: z.string(), details: RestoreDetailsSchema });
export type RestoreMarker = z.infer<typeof MarkerSchema>;

/** The marker an earlier run of this restore (of the same backup file) left, or null (none, another backup, or one from before new logs). */
export function earlierRestore(dataDir: string, file: string): RestoreMarker | null {
  const path = join(dataDir, RESTORE_MARKER);
  if (!existsSync(path)) return null;
  try {
    const marker = MarkerSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
    return marker.file === file && marker.details.log === `${RELAY_ORIGIN_PREFIX}${marker.logId}` ? marker : null;
  } catch {
    return null;
  }
}

export const markerText = (marker: RestoreMarker): string => `${JSON.stringify(marker)}\n`;

const remembered = (entry: SignedCheckpointEntry | null): RememberedCheckpoint | null => (entry ? { size: entry.size, root: entry.root, note: entry.note } : null);

export interface NewLogInput {
  readonly dataDir: string;
  /** The backup file, and what its manifest and database say. */
  readonly file: string;
  readonly backup: { readonly createdAt: number; readonly records: number; readonly head: string | null };
  /** The log the backup's records belong to: its origin and first record. */
  readonly previous: { readonly origin: string; readonly firstSeq: number };
  /** The checkpoints the relay remembers signing (rememberedCheckpoints: only those its keys signed). */
  readonly checkpoints: readonly SignedCheckpointEntry[];
  /** The backup's tree of that log (server/audit/backupTree.ts). */
  readonly backupTree: { readonly size: number; readonly root: string; readonly consistency: string };
  /** The log the database being replaced was writing (its origin, first record, last record and that record's hash); null when there is none or it cannot be read. */
  readonly live: LiveLog | null;
}

export interface LiveLog {
  readonly origin: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly head: string | null;
}

/**
 * Every checkpoint the relay remembers signing, in the directory's memory and the backup's copy of it,
 * believed only when signed by one of `keys` (PEM): a line added by hand neither blocks a restore nor is named in one.
 */
export function rememberedCheckpoints(dataDir: string, backupCheckpoints: Uint8Array | undefined, keys: readonly string[]): SignedCheckpointEntry[] {
  return [...signedCheckpoints(dataDir), ...(backupCheckpoints ? parseSignedCheckpoints(backupCheckpoints) : [])].filter((entry) => signedByRelay(entry, keys));
}

/**
 * The records of the database being replaced that the restore discards: those after the backup's last,
 * when it writes the log the backup continues; otherwise every record of its log.
 */
function discardedBy(live: LiveLog | null, backup: { readonly records: number; readonly origin: string }): { from: number; to: number; head: string | null } | null {
  if (!live) return null;
  const from = live.origin === backup.origin ? Math.max(backup.records + 1, live.firstSeq) : live.firstSeq;
  return live.lastSeq >= from ? { from, to: live.lastSeq, head: live.head } : null;
}

/** The new log's id and its first record's details: those an earlier run of this restore chose, or new ones. */
export function newLogAfterRestore(input: NewLogInput): RestoreMarker {
  const earlier = earlierRestore(input.dataDir, input.file);
  if (earlier) return earlier;
  const lastOf = (origin: string) => remembered(largest(input.checkpoints.filter((e) => e.origin === origin)));
  const logId = restoredLogId(input.previous.origin);
  const log = `${RELAY_ORIGIN_PREFIX}${logId}`;
  // The log the directory held until now, when it is not the backup's (an earlier restore's, or another relay's).
  const here = existingLogOrigin(input.dataDir);
  const details: RestoreDetails = restoreDetails({
    log,
    backup: { file: basename(input.file), createdAt: input.backup.createdAt, records: input.backup.records, head: input.backup.head },
    previous: { ...input.previous, checkpoint: lastOf(input.previous.origin) },
    replaced: here && here !== input.previous.origin ? { origin: here, checkpoint: lastOf(here), firstSeq: input.live?.origin === here ? input.live.firstSeq : null } : null,
    backupTree: input.backupTree,
    discarded: discardedBy(input.live, { records: input.backup.records, origin: input.previous.origin }),
  });
  return { file: input.file, logId, details };
}
