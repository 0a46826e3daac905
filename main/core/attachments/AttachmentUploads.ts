import { randomUUID } from 'node:crypto';
import { AttachmentIdSchema } from '../../../shared/attachmentContract';
import type { MessageId } from '../../../shared/ids';
import { MAX_BLOB_CHUNK_BYTES, type BlobStatus } from '../../../shared/wire/blobs';
import type { AttachmentPointer } from '../../../shared/payload';
import { RoundsError } from '../errors';
import { RelayRequestError } from '../messaging/RelayClient';
import { cipherSize, encryptSegments, newAttachmentKey } from './attachmentCipher';
import type { StoredAttachment } from './AttachmentStore';
import type { FileFacts } from './fileFacts';
import { progressOf, transferErrorCode, TransferQueue, type TransferHost } from './TransferHost';

/** The end-to-end pointer of an uploaded attachment: where its blob is, and the key and digest that open it. */
export function pointerOf(a: StoredAttachment): AttachmentPointer {
  if (!a.blobId) throw new Error('an attachment is pointed to only once it is on the relay');
  return {
    id: a.id, blobId: a.blobId, contentType: a.contentType, size: a.size, cipherSize: a.cipherSize, digest: a.digest, key: a.key.toString('base64'),
    ...(a.fileName ? { fileName: a.fileName } : {}), ...(a.width ? { width: a.width } : {}), ...(a.height ? { height: a.height } : {}),
    ...(a.thumbnail ? { thumbnail: a.thumbnail.toString('base64') } : {}),
  };
}

const badStatus = (message: string) => new RelayRequestError('BAD_RESPONSE', `${message}: the upload stops`, 200);

/**
 * The bytes [offset, end) of a blob's next PATCH as the relay's status asks for them: from what it holds, at most
 * its chunk size and never more than MAX_BLOB_CHUNK_BYTES (the relay's word is not trusted to size our reads). A
 * status that cannot be true (less than it held before, more than the blob) is refused, typed (BAD_RESPONSE).
 */
export function nextChunk(status: Pick<BlobStatus, 'received' | 'chunkBytes'>, cipherSize: number, heldBefore: number): { offset: number; end: number } {
  const { received } = status;
  if (received > cipherSize) throw badStatus(`the relay says it holds ${received} bytes of a blob of ${cipherSize}`);
  if (received < heldBefore) throw badStatus(`the relay says it holds ${received} bytes of a blob after it held ${heldBefore}`);
  return { offset: received, end: Math.min(cipherSize, received + Math.min(status.chunkBytes, MAX_BLOB_CHUNK_BYTES)) };
}

/**
 * Sending attachments (issue 20): each file is encrypted under its own key when the message is sent, kept
 * encrypted in the profile, and uploaded to the relay in chunks; an upload goes on from where the relay's copy
 * ends (after a failure or a restart). The message goes (AttachedSends, through the outbox), with the pointers,
 * once all its attachments are up: one upload whatever the number of recipients (a care team's message carries the
 * keys under the sender key). A cancelled upload stops its message: it is not sent, and its blobs are withdrawn.
 */
export class AttachmentUploads {
  readonly #queue = new TransferQueue();
  /** Messages whose cancellation is being handled (each of their aborted uploads ends here too). */
  readonly #cancelled = new Set<string>();

  constructor(private readonly host: TransferHost) {}

  /**
   * Encrypts and stores the message's files, to be uploaded (inside the send's transaction, after the message row):
   * segment by segment into rows of the profile, so no second copy of a file is ever in memory; the upload then reads
   * its chunks back from the profile, as after a restart. (Encrypting while uploading would not save a pass: the
   * relay is told the whole blob's digest before its first byte.)
   */
  store(messageId: MessageId, files: readonly FileFacts[]): void {
    const at = this.host.now();
    files.forEach((file, position) => {
      const key = newAttachmentKey();
      const id = AttachmentIdSchema.parse(randomUUID());
      const plain = file.bytes;
      const encryption = encryptSegments(key, (start, end) => plain.subarray(start, end), plain.length);
      // The row goes first (the bytes refer to it); its digest once the last segment is made.
      this.host.store.insert({
        id, messageId, position, outgoing: true, contentType: file.contentType, kind: file.kind, size: plain.length, fileName: file.fileName,
        width: file.width, height: file.height, thumbnail: file.thumbnail, key, digest: '', cipherSize: cipherSize(plain.length), blobId: null, state: 'uploading',
      }, at);
      this.host.store.writePieces(id, encryption.pieces);
      this.host.store.setDigest(id, encryption.digest());
    });
  }

  /** Starts (or resumes) the uploads of this message; of every message with uploads under way when none is given. */
  start(messageId?: string): void {
    const pending = messageId ? this.host.store.byMessage(messageId).filter((a) => a.state === 'uploading') : this.host.store.inState('uploading');
    // One cancelled before its turn never runs: its message is withdrawn here (a running one's in #upload).
    for (const a of pending) void this.#queue.run(a.id, (signal) => this.#upload(a.id, signal)).catch(() => this.#cancelledByUser(a.messageId));
  }

  /** A failed upload goes again, from where the relay's copy ends; a cancelled one's message is not sent, so it cannot. */
  retry(a: StoredAttachment): void {
    if (a.state !== 'uploadFailed') return;
    if (a.error === 'ATTACHMENT_CANCELLED') throw new RoundsError('INVALID_INPUT', 'this upload was cancelled and its message not sent: attach the file to a new message');
    this.host.store.setState(a.id, 'uploading');
    this.start(a.messageId);
  }

  cancel(id: string): boolean {
    return this.#queue.abort(id);
  }

  /**
   * The message will not go (its upload cancelled, or nobody to send it to): every upload of it stops, and its blobs
   * are withdrawn from the relay, the partial ones included (DELETE, the uploader only). A relay out of reach keeps
   * an unfinished one until its housekeeping drops abandoned uploads, and a finished one until its retention.
   */
  async withdraw(messageId: string): Promise<void> {
    const { host } = this;
    for (const a of host.store.byMessage(messageId)) this.#queue.abort(a.id);
    for (const a of host.store.byMessage(messageId)) {
      if (a.blobId) {
        try {
          await host.blobs.withdraw(a.blobId);
        } catch (error) {
          if (!(error instanceof RelayRequestError)) throw error;
        }
      }
      host.store.setState(a.id, 'uploadFailed', 'ATTACHMENT_CANCELLED');
      host.emit(progressOf(host, a, 'upload', 'uploadFailed', a.transferred, 'ATTACHMENT_CANCELLED'));
    }
  }

  /** Cancelled by the user (not stopped by a lock or quit): the message is not sent, its blobs withdrawn. */
  #cancelledByUser(messageId: string): void {
    if (!this.host.running() || this.#cancelled.has(messageId)) return;
    this.#cancelled.add(messageId);
    this.host.cancelled(messageId);
    void this.withdraw(messageId).catch(() => undefined).finally(() => this.#cancelled.delete(messageId));
  }

  async stop(): Promise<void> {
    this.#queue.abortAll();
    await this.#queue.settled();
  }

  async #upload(id: string, signal: AbortSignal): Promise<void> {
    const { host } = this;
    let a = host.store.get(id);
    if (!a || a.state !== 'uploading' || !host.running()) return;
    try {
      let status = a.blobId ? await this.#statusOrNew({ ...a, blobId: a.blobId }) : undefined;
      if (!status) {
        const message = host.db.get<{ sent_at: number }>('SELECT sent_at FROM messages WHERE id = $id', { id: a.messageId });
        status = await host.blobs.create(a.cipherSize, a.digest, host.recipients(a.messageId), host.expiresAt(message?.sent_at ?? host.now()));
        host.store.setBlob(a.id, status.id);
        a = { ...a, blobId: status.id };
      }
      const blobId = status.id;
      host.emit(progressOf(host, a, 'upload', 'uploading', status.received, null));
      let held = 0;
      while (!status.complete) {
        signal.throwIfAborted();
        // Locked or quitting: left `uploading`, to go on from the relay's copy at the next start.
        if (!host.running()) return;
        const { offset, end } = nextChunk(status, a.cipherSize, held);
        held = offset;
        const bytes = host.store.readBytes(a.id, offset, end);
        try {
          status = await host.blobs.append(blobId, offset, bytes, signal);
          if (status.received !== end) throw badStatus(`the relay holds ${status.received} bytes after taking bytes ${offset} to ${end}`);
        } catch (error) {
          // Our last chunk got there but its answer did not: the relay says where it is.
          if (!(error instanceof RelayRequestError && error.code === 'BLOB_OFFSET_MISMATCH')) throw error;
          status = await host.blobs.status(blobId);
        }
        host.store.setTransferred(a.id, status.received);
        host.emit(progressOf(host, a, 'upload', 'uploading', status.received, null));
      }
      this.#uploaded(a);
    } catch (error) {
      // Stopped by a lock or quit: left `uploading`, to go on at the next start.
      if (!host.running()) return;
      if (signal.aborted) return this.#cancelledByUser(a.messageId);
      const code = transferErrorCode(error, signal.aborted);
      if (host.store.get(id)) {
        host.store.setState(id, 'uploadFailed', code);
        host.emit(progressOf(host, a, 'upload', 'uploadFailed', host.store.get(id)?.transferred ?? 0, code));
      }
    }
  }

  /** The relay's copy of a blob begun earlier, or undefined when it is gone (expired, abandoned): then it starts again. */
  async #statusOrNew(a: StoredAttachment & { blobId: string }) {
    try {
      return await this.host.blobs.status(a.blobId);
    } catch (error) {
      if (error instanceof RelayRequestError && error.code === 'NOT_FOUND') return undefined;
      throw error;
    }
  }

  /**
   * Marks the attachment uploaded (audited) and, when it was its message's last, lets the message go (after this
   * transaction: deciding how it goes may ask the relay; a restart in between releases it at the next connect).
   */
  #uploaded(a: StoredAttachment): void {
    const { host } = this;
    const last = host.db.transaction(() => {
      host.store.setState(a.id, 'uploaded');
      host.store.setTransferred(a.id, a.cipherSize);
      host.audit('attachment.sent', { message: a.messageId, attachment: a.id, size: a.size, type: a.contentType });
      return host.store.byMessage(a.messageId).every((x) => x.state === 'uploaded');
    });
    host.emit(progressOf(host, a, 'upload', 'uploaded', a.cipherSize, null));
    if (last) host.release(a.messageId);
  }
}
