import { randomUUID } from 'node:crypto';
import { createWriteStream, fstatSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ErrorCode } from '../../../shared/errors';
import { RoundsError } from '../errors';
import { fileIdentity, whileUnderway } from './PendingSaves';

/*
 * Writing a saved copy of an attachment where the user chose (issue 20). The plaintext leaves the encrypted
 * profile here, so the order is what keeps it safe:
 * 1. a temporary file beside the destination (same folder: same disk, so step 3 is a rename, never a copy), made
 *    exclusively (`wx`: never an existing file or a link planted there), owner-only, filled segment by segment as
 *    the attachment is decrypted (one 64 KiB segment in memory at a time);
 * 2. the OS "downloaded from the internet" mark set on it (downloadMarks.ts; NTFS streams and macOS extended
 *    attributes move with a renamed file);
 * 3. renamed to the chosen name (replacing a file there only because the save dialog asked the user).
 * Any failure (a full disk, a segment that does not authenticate, a mark the OS refuses) deletes the temporary file:
 * the chosen name never holds an unmarked copy, or a part of one. The bytes are flushed to disk before the rename.
 * The process killed or the power lost mid-save leaves the `.rounds-<id>.part` file in that folder: the journal
 * (PendingSaves, in the profile) notes each one from its creation to its end, and the next start removes it.
 * Paths are the user's file names: never logged.
 */

/**
 * Notes a save's temporary file from when it is created (with its identity and its folder's: fileIdentity) until it
 * is gone or renamed.
 */
export interface SaveJournal {
  created(path: string, identity: string, parentIdentity: string): void;
  ended(path: string): void;
}

/** Where a save failed: writing the bytes, marking the copy, or moving it into place. */
export type SaveStep = 'write' | 'mark' | 'move';

/** A save that failed, with what is left: nothing (the temporary copy was deleted). */
export class AttachmentSaveError extends RoundsError {
  constructor(readonly step: SaveStep, code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Sets the OS's downloaded mark on the file at `path`, or throws. */
export type DownloadMarker = (path: string) => void;

function failure(step: SaveStep, error: unknown): AttachmentSaveError {
  // A segment that did not authenticate keeps its own code (ATTACHMENT_TAMPERED): the file is bad, not the disk.
  if (error instanceof RoundsError && step === 'write') return new AttachmentSaveError(step, error.code, error.message, { cause: error });
  if (step === 'mark') {
    return new AttachmentSaveError(step, 'ATTACHMENT_MARK_FAILED', 'the saved copy could not be marked as downloaded from the internet, so it was deleted', { cause: error });
  }
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return new AttachmentSaveError(step, 'ATTACHMENT_SAVE_FAILED', `the copy could not be ${step === 'move' ? 'moved into place' : 'written'}${code ? ` (${code})` : ''}; nothing was left there`, { cause: error });
}

/** Writes `plaintext` to `path` by way of a marked temporary file beside it (see above); throws AttachmentSaveError. */
export async function writeMarkedCopy(path: string, plaintext: Iterable<Uint8Array>, mark: DownloadMarker, journal: SaveJournal): Promise<void> {
  if (!isAbsolute(path) || basename(path) === '') throw new AttachmentSaveError('write', 'ATTACHMENT_SAVE_FAILED', 'the place to save to is not a file path');
  const temporary = join(dirname(path), `.rounds-${randomUUID()}.part`);
  await whileUnderway(temporary, () => write(temporary, path, plaintext, mark, journal));
}

async function write(temporary: string, path: string, plaintext: Iterable<Uint8Array>, mark: DownloadMarker, journal: SaveJournal): Promise<void> {
  let step: SaveStep = 'write';
  try {
    const file = createWriteStream(temporary, { flags: 'wx', mode: 0o600, flush: true });
    // Noted as soon as it exists, before a byte is written: a crash from here on leaves a file the next start removes.
    file.once('open', (fd: number) => {
      try {
        journal.created(temporary, fileIdentity(fstatSync(fd, { bigint: true })), fileIdentity(statSync(dirname(temporary), { bigint: true })));
      } catch (error) {
        // Not noted (the profile closed meanwhile): not written either.
        file.destroy(error as Error);
      }
    });
    await pipeline(Readable.from(plaintext, { objectMode: false }), file);
    step = 'mark';
    mark(temporary);
    step = 'move';
    await rename(temporary, path);
  } catch (error) {
    // Deleted whatever failed; a copy that cannot be deleted is worth saying so, in the error's cause (and stays
    // noted, for the next start to try again).
    const deleted = await rm(temporary, { force: true }).then(() => true, () => false);
    if (deleted) forget(journal, temporary);
    throw failure(step, error);
  }
  // Saved: the note goes (a profile closed meanwhile cannot: the next start finds the file gone and forgets it).
  forget(journal, temporary);
}

/** The temporary file is gone: its note goes too, or (the profile closed meanwhile) at the next start. */
function forget(journal: SaveJournal, temporary: string): void {
  try {
    journal.ended(temporary);
  } catch {
    // The next start finds the file gone from its folder and forgets it.
  }
}
