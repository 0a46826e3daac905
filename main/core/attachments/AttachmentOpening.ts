import type { OrgPolicy } from '../../../shared/policy';
import type { AttachmentTraffic } from '../audit/LocalAudit';
import { RoundsError } from '../errors';
import { decryptRange, decryptSegments } from './attachmentCipher';
import type { StoredAttachment } from './AttachmentStore';
import { heicToJpeg, isHeic } from './fileFacts';
import { stripImageMetadata } from './imageMetadata';
import { AttachmentSaveError, writeMarkedCopy, type DownloadMarker, type SaveJournal } from './savedCopy';
import { saveFileName } from './saveFileName';
import type { TransferHost } from './TransferHost';
import type { VirusScanner } from './VirusScanner';

/**
 * What a door (the Electron shell) does when the user saves or copies an attachment: only what needs the OS's own
 * UI; the core decides (policy), writes, marks and audits. The browser harness has none.
 */
export interface AttachmentDoor {
  /** Asks where to save (the OS save dialog, offering `suggestedName`, already made safe); the path, or null when cancelled. */
  chooseSavePath(suggestedName: string, contentType: string): Promise<string | null>;
  /** Puts an image on the clipboard (the lock clears it); throws when the OS cannot take it. */
  copyImage(bytes: Buffer, contentType: string): Promise<void> | void;
}

/** The largest image copied to the clipboard (it goes whole: the clipboard takes no stream), in bytes and pixels. */
export const MAX_COPY_BYTES = 32 * 1024 * 1024;
export const MAX_COPY_PIXELS = 50_000_000;

type AttachmentPolicy = OrgPolicy['attachments'];

/**
 * Opening a stored attachment: its bytes for the viewer (decrypted segment by segment, in memory, only the
 * ones asked for; a HEIC/HEIF image converted to JPEG for display), saving it and copying it as the policy
 * allows (audited by size and type), and, when the policy says so, a ClamAV scan before any of these. Saving and
 * scanning decrypt one 64 KiB segment at a time as the disk or clamdscan takes it (savedCopy.ts, VirusScanner.ts);
 * only a copy to the clipboard, which takes no stream, holds the whole image, within MAX_COPY_BYTES.
 */
export class AttachmentOpening {
  /** The last HEIC converted for display (the viewer reads it in chunks): attachment id and JPEG. */
  #display: { id: string; jpeg: Buffer } | undefined;

  constructor(
    private readonly host: TransferHost,
    private readonly policy: AttachmentPolicy,
    private readonly door: AttachmentDoor | null,
    private readonly scanner: VirusScanner,
    private readonly imageCopied: () => void,
    private readonly markDownloaded: DownloadMarker,
    private readonly saves: SaveJournal,
  ) {}

  async read(a: StoredAttachment, variant: 'original' | 'display', offset: number, length: number): Promise<{ contentType: string; total: number; data: Buffer }> {
    await this.#openable(a);
    if (variant === 'display' && isHeic(a.contentType)) {
      // Only a HEIC this workstation recorded as an image is decoded (received ones are plain files: AttachmentDownloads).
      if (a.kind !== 'image') throw new RoundsError('ATTACHMENT_UNREADABLE', 'this HEIC image came from another application and is not decoded here');
      if (this.#display?.id !== a.id) this.#display = { id: a.id, jpeg: await heicToJpeg(this.#plaintext(a)) };
      const jpeg = this.#display.jpeg;
      return { contentType: 'image/jpeg', total: jpeg.length, data: jpeg.subarray(offset, offset + length) };
    }
    const data = decryptRange(a.key, this.host.store.ciphertextReader(a.id), a.cipherSize, offset, length);
    return { contentType: a.contentType, total: a.size, data };
  }

  /**
   * Saves a copy where the user chooses (policy `saveAllowed`), marked as downloaded from the internet. Audited as
   * begun once a place is chosen, then as saved or failed (with the step and code; the copy is then deleted).
   */
  async save(a: StoredAttachment): Promise<string | null> {
    if (!this.policy.saveAllowed) throw new RoundsError('ATTACHMENT_POLICY', 'the organisation\'s policy does not allow saving attachments to disk');
    if (!this.door) throw new RoundsError('ATTACHMENT_POLICY', 'files cannot be saved from this window');
    await this.#openable(a);
    const path = await this.door.chooseSavePath(saveFileName(a.fileName, `attachment-${a.id.slice(0, 8)}`), a.contentType);
    if (path === null) return null;
    const traffic = trafficOf(a);
    this.host.audit('attachment.saveAttempted', traffic);
    try {
      await writeMarkedCopy(path, this.#segments(a), this.markDownloaded, this.saves);
    } catch (error) {
      const failed = error instanceof AttachmentSaveError ? error : new AttachmentSaveError('write', 'ATTACHMENT_SAVE_FAILED', 'the copy could not be written', { cause: error });
      this.host.audit('attachment.saveFailed', { ...traffic, step: failed.step, code: failed.code });
      throw failed;
    }
    this.host.audit('attachment.saved', traffic);
    return path;
  }

  /**
   * Puts an image on the clipboard (policy `clipboardAllowed`), audited by size and type. It goes whole (the OS
   * clipboard takes no stream), so only up to MAX_COPY_BYTES and MAX_COPY_PIXELS.
   */
  async copyImage(a: StoredAttachment): Promise<void> {
    if (!this.policy.clipboardAllowed) throw new RoundsError('ATTACHMENT_POLICY', 'the organisation\'s policy does not allow copying attachments');
    if (!this.door) throw new RoundsError('ATTACHMENT_POLICY', 'images cannot be copied from this window');
    if (a.kind !== 'image') throw new RoundsError('INVALID_INPUT', 'only images can be copied');
    if (a.size > MAX_COPY_BYTES) throw new RoundsError('ATTACHMENT_TOO_LARGE', `images over ${MAX_COPY_BYTES / 1024 / 1024} MiB are not copied to the clipboard`);
    await this.#openable(a);
    const heic = isHeic(a.contentType);
    const bytes = heic ? await heicToJpeg(this.#plaintext(a)) : this.#plaintext(a);
    const contentType = heic ? 'image/jpeg' : a.contentType;
    // Its real size in pixels, from its own header (the sender's width and height are only their word).
    const { width, height } = stripImageMetadata(bytes, contentType);
    if (width !== null && height !== null && width * height > MAX_COPY_PIXELS) {
      throw new RoundsError('ATTACHMENT_TOO_LARGE', `images over ${MAX_COPY_PIXELS / 1_000_000} megapixels are not copied to the clipboard`);
    }
    await this.door.copyImage(bytes, contentType);
    this.imageCopied();
    this.host.audit('attachment.copied', trafficOf(a));
  }

  forget(): void {
    this.#display = undefined;
  }

  /** Whether the bytes are here and, under a scan policy, clean (scanned once; the verdict is kept). */
  async #openable(a: StoredAttachment): Promise<void> {
    if (a.state === 'infected') throw new RoundsError('ATTACHMENT_INFECTED', 'the virus scan found something in this file: it cannot be opened');
    // Made here (its bytes were encrypted on this workstation), or fetched and verified (from a colleague, or
    // a copy of our own message sent from another of our workstations).
    const madeHere = a.state === 'uploading' || a.state === 'uploaded' || a.state === 'uploadFailed';
    if (!madeHere && a.state !== 'stored') throw new RoundsError(a.state === 'expired' ? 'ATTACHMENT_EXPIRED' : 'ATTACHMENT_NOT_STORED', 'fetch the attachment first');
    if (madeHere || !this.policy.scanBeforeOpen) return;
    let verdict = a.scanned;
    if (verdict === null) {
      verdict = await this.scanner.scan(this.#segments(a));
      this.host.store.setScanned(a.id, verdict);
      if (verdict === 'infected') this.host.store.setState(a.id, 'infected', 'ATTACHMENT_INFECTED');
    }
    if (verdict === 'infected') throw new RoundsError('ATTACHMENT_INFECTED', 'the virus scan found something in this file: it cannot be opened');
  }

  /** The plaintext, segment by segment as it is consumed (saving, scanning): never whole in memory. */
  #segments(a: StoredAttachment): Iterable<Buffer> {
    return decryptSegments(a.key, this.host.store.ciphertextReader(a.id), a.cipherSize);
  }

  /** The whole plaintext: only for what needs it whole (a HEIC to convert, an image for the clipboard). */
  #plaintext(a: StoredAttachment): Buffer {
    return Buffer.concat([...this.#segments(a)]);
  }
}

/** What the audit log keeps of an attachment: ids, size and type; never its name or content. */
function trafficOf(a: StoredAttachment): AttachmentTraffic {
  return { message: a.messageId, attachment: a.id, size: a.size, type: a.contentType };
}

