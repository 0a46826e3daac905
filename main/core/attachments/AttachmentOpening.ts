import type { OrgPolicy } from '../../../shared/policy';
import { RoundsError } from '../errors';
import { decryptRange } from './attachmentCipher';
import type { StoredAttachment } from './AttachmentStore';
import { heicToJpeg, isHeic } from './fileFacts';
import type { TransferHost } from './TransferHost';
import type { VirusScanner } from './VirusScanner';

/** What a door (the Electron shell) does with a file the user saves or copies; the browser harness has none. */
export interface AttachmentDoor {
  /**
   * Asks where to save (the OS save dialog, `suggestedName` offered), writes the bytes there and marks the file as
   * downloaded from the internet (Windows Zone.Identifier, macOS quarantine); the path, or null when cancelled.
   */
  saveFile(suggestedName: string, contentType: string, bytes: Buffer): Promise<string | null>;
  /** Puts an image on the clipboard (the lock clears it). */
  copyImage(bytes: Buffer, contentType: string): Promise<void> | void;
}

type AttachmentPolicy = OrgPolicy['attachments'];

/**
 * Opening a stored attachment: its bytes for the viewer (decrypted segment by segment, in memory, only the
 * ones asked for; a HEIC/HEIF image converted to JPEG for display), saving it and copying it as the policy
 * allows (audited by size and type), and, when the policy says so, a ClamAV scan before any of these.
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
    const data = decryptRange(a.key, (s, e) => this.host.store.readBytes(a.id, s, e), a.cipherSize, offset, length);
    return { contentType: a.contentType, total: a.size, data };
  }

  async save(a: StoredAttachment): Promise<string | null> {
    if (!this.policy.saveAllowed) throw new RoundsError('ATTACHMENT_POLICY', 'the organisation\'s policy does not allow saving attachments to disk');
    if (!this.door) throw new RoundsError('ATTACHMENT_POLICY', 'files cannot be saved from this window');
    await this.#openable(a);
    const path = await this.door.saveFile(a.fileName ?? `attachment-${a.id.slice(0, 8)}`, a.contentType, this.#plaintext(a));
    if (path !== null) this.host.audit('attachment.saved', { message: a.messageId, attachment: a.id, size: a.size, type: a.contentType });
    return path;
  }

  async copyImage(a: StoredAttachment): Promise<void> {
    if (!this.policy.clipboardAllowed) throw new RoundsError('ATTACHMENT_POLICY', 'the organisation\'s policy does not allow copying attachments');
    if (!this.door) throw new RoundsError('ATTACHMENT_POLICY', 'images cannot be copied from this window');
    if (a.kind !== 'image') throw new RoundsError('INVALID_INPUT', 'only images can be copied');
    await this.#openable(a);
    const bytes = isHeic(a.contentType) ? await heicToJpeg(this.#plaintext(a)) : this.#plaintext(a);
    await this.door.copyImage(bytes, isHeic(a.contentType) ? 'image/jpeg' : a.contentType);
    this.imageCopied();
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
      verdict = await this.scanner.scan(this.#plaintext(a));
      this.host.store.setScanned(a.id, verdict);
      if (verdict === 'infected') this.host.store.setState(a.id, 'infected', 'ATTACHMENT_INFECTED');
    }
    if (verdict === 'infected') throw new RoundsError('ATTACHMENT_INFECTED', 'the virus scan found something in this file: it cannot be opened');
  }

  #plaintext(a: StoredAttachment): Buffer {
    return decryptRange(a.key, (s, e) => this.host.store.readBytes(a.id, s, e), a.cipherSize, 0, a.size);
  }
}

