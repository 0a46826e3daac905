import { createHash, type Hash } from 'node:crypto';
import type { AttachmentView } from '../../../shared/attachmentContract';
import { displayFileName } from '../../../shared/fileNames';
import type { MessageId } from '../../../shared/ids';
import type { AttachmentPointer } from '../../../shared/payload';
import { RoundsError } from '../errors';
import { RelayRequestError } from '../messaging/RelayClient';
import { AttachmentTamperedError, cipherSize, decryptRange } from './attachmentCipher';
import { attachmentView, STORED_CHUNK_BYTES, type StoredAttachment } from './AttachmentStore';
import { isHeic, kindOf, sniffContentType } from './fileFacts';
import { progressOf, transferErrorCode, TransferQueue, type TransferHost } from './TransferHost';

/** A media type as RFC 6838 names them (type/subtype, no parameters): anything else a sender claims is octet-stream here. */
const MIME_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}$/;

/** Bytes of the start of a file that are enough to sniff its type. */
const SNIFF_BYTES = 4100;

/**
 * Receiving attachments (issue 20): the pointers in a message are stored with it, and each blob is fetched on
 * demand (or at once up to the policy's size), in ranges that resume where the stored ciphertext ends. The
 * blob stays encrypted in the profile as it came; once complete it must match the message's digest and every
 * segment must authenticate, or it is refused (ATTACHMENT_TAMPERED) and its bytes are deleted. Its type is
 * sniffed again from the decrypted bytes: the sender's word is not taken for what the viewer opens.
 */
export class AttachmentDownloads {
  readonly #queue = new TransferQueue();
  readonly #fetching = new Map<string, Promise<void>>();

  constructor(private readonly host: TransferHost, private readonly autoDownloadBytes: () => number) {}

  /** The message's pointers, stored as `remote` attachments (inside the transaction that stores the message). */
  record(messageId: MessageId, pointers: readonly AttachmentPointer[], outgoing: boolean): void {
    const at = this.host.now();
    pointers.forEach((p, position) => {
      // A pointer whose sizes disagree (a small file announced, a large blob to fetch) is refused at once: never
      // fetched, so a sender's client cannot fill this profile behind an innocent size.
      const consistent = p.cipherSize === cipherSize(p.size);
      // Rounds converts phone photos (HEIC) to JPEG before sending: one that arrives as HEIC came from another
      // client and is not decoded here (its decoder takes the file's word for how large the picture is).
      // The sender's word for the type is kept only if it is one (it reaches the local audit log and the screens).
      const contentType = MIME_TYPE.test(p.contentType) ? p.contentType.toLowerCase() : 'application/octet-stream';
      const kind = isHeic(contentType) ? 'file' : kindOf(contentType);
      this.host.store.insert({
        id: p.id, messageId, position, outgoing, contentType, kind, size: p.size, fileName: displayFileName(p.fileName),
        width: p.width ?? null, height: p.height ?? null, thumbnail: p.thumbnail ? Buffer.from(p.thumbnail, 'base64') : null, key: Buffer.from(p.key, 'base64'),
        digest: p.digest, cipherSize: p.cipherSize, blobId: p.blobId, state: consistent ? 'remote' : 'refused',
      }, at);
      if (!consistent) this.host.store.setState(p.id, 'refused', 'ATTACHMENT_TAMPERED');
    });
  }

  /** After a message arrived: its attachments up to the policy's size are fetched now, in the background. */
  fetchSmall(messageId: string): void {
    for (const a of this.host.store.byMessage(messageId)) {
      if (a.state === 'remote' && a.size <= this.autoDownloadBytes()) this.#start(a);
    }
  }

  /** Downloads a lock or quit interrupted go on where their stored bytes end. */
  resume(): void {
    for (const a of this.host.store.inState('downloading')) void this.#start(a);
  }

  /** Fetches the attachment now; resolves with its view when it is stored, or rejects with why not. */
  async fetch(a: StoredAttachment): Promise<AttachmentView> {
    if (a.state === 'refused') throw new AttachmentTamperedError('it did not verify when it was fetched');
    if (a.state === 'expired') throw new RoundsError('ATTACHMENT_EXPIRED', 'the attachment was deleted by retention');
    if (a.state !== 'stored') await this.#start(a);
    const now = this.host.store.get(a.id);
    if (!now) throw new RoundsError('ATTACHMENT_EXPIRED', 'the attachment was deleted meanwhile');
    if (now.state !== 'stored') throw new RoundsError((now.error ?? 'INTERNAL') as 'INTERNAL', `the attachment could not be fetched (${now.error ?? 'unknown'})`);
    return attachmentView(now);
  }

  cancel(id: string): boolean {
    return this.#queue.abort(id);
  }

  stop(): Promise<void> {
    this.#queue.abortAll();
    return this.#queue.settled();
  }

  #start(a: StoredAttachment): Promise<void> {
    let running = this.#fetching.get(a.id);
    if (!running) {
      running = this.#queue.run(a.id, (signal) => this.#download(a.id, signal)).catch(() => undefined).finally(() => this.#fetching.delete(a.id));
      this.#fetching.set(a.id, running);
    }
    return running;
  }

  async #download(id: string, signal: AbortSignal): Promise<void> {
    const { host } = this;
    const a = host.store.get(id);
    if (!a || a.state === 'stored' || a.state === 'refused' || a.state === 'expired' || !a.blobId || !host.running()) return;
    host.store.setState(id, 'downloading');
    let transferred = a.transferred;
    host.emit(progressOf(host, a, 'download', 'downloading', transferred, null));
    // The digest is taken as the bytes arrive (after a restart, over what was stored before first).
    const digest = createHash('sha256');
    // Row by row: a resumed 100 MiB download does not read its stored part into memory at once.
    for (let at = 0; at < transferred; at += STORED_CHUNK_BYTES) digest.update(host.store.readBytes(id, at, Math.min(transferred, at + STORED_CHUNK_BYTES)));
    try {
      while (transferred < a.cipherSize) {
        signal.throwIfAborted();
        const end = Math.min(a.cipherSize, transferred + STORED_CHUNK_BYTES);
        const bytes = await host.blobs.read(a.blobId, transferred, end, signal);
        digest.update(bytes);
        host.db.transaction(() => {
          host.store.appendBytes(id, transferred, bytes);
          host.store.setTransferred(id, end);
        });
        transferred = end;
        host.emit(progressOf(host, a, 'download', 'downloading', transferred, null));
      }
      await this.#verified(a, digest);
    } catch (error) {
      // Stopped by a lock or quit: left `downloading`, to go on at the next start.
      if (!host.running() || !host.store.get(id)) return;
      if (error instanceof AttachmentTamperedError) {
        host.store.dropBytes(id);
        host.store.setState(id, 'refused', error.code);
        host.emit(progressOf(host, a, 'download', 'refused', 0, error.code));
        return;
      }
      const gone = error instanceof RelayRequestError && error.code === 'NOT_FOUND';
      const code = gone ? 'ATTACHMENT_EXPIRED' : transferErrorCode(error, signal.aborted);
      host.store.setState(id, gone ? 'expired' : 'downloadFailed', code);
      host.emit(progressOf(host, a, 'download', gone ? 'expired' : 'downloadFailed', transferred, code));
    }
  }

  /**
   * Checks the whole blob against the digest in the message (which the end-to-end session authenticated: the
   * bytes are exactly those the sender encrypted), sniffs its type from its first segment, and marks it stored
   * (audited). Every segment's tag is checked again whenever it is decrypted for the viewer.
   */
  async #verified(a: StoredAttachment, digest: Hash): Promise<void> {
    const { host } = this;
    if (digest.digest('base64') !== a.digest) throw new AttachmentTamperedError('its digest does not match the message');
    const head = decryptRange(a.key, (s, e) => host.store.readBytes(a.id, s, e), a.cipherSize, 0, SNIFF_BYTES);
    const sniffed = await sniffContentType(head);
    // Not the type the sender named (application/octet-stream: nothing known; we keep the sender's then).
    const contentType = sniffed === 'application/octet-stream' || sniffed === a.contentType ? a.contentType : sniffed;
    host.db.transaction(() => {
      host.db.run('UPDATE attachments SET content_type = $ct, kind = $k, state = $s, error = NULL WHERE id = $id', { id: a.id, ct: contentType, k: kindOf(contentType), s: 'stored' });
      host.audit('attachment.fetched', { message: a.messageId, attachment: a.id, size: a.size, type: contentType });
    });
    host.emit(progressOf(host, a, 'download', 'stored', a.cipherSize, null));
    // Best effort: the relay also notes a download that covered the blob in order; a failure here only keeps
    // the blob until its retention.
    if (a.blobId) await host.blobs.fetched(a.blobId).catch(() => undefined);
  }
}
