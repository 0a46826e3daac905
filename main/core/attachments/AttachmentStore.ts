import type { AttachmentId, AttachmentKind, AttachmentState, AttachmentView } from '../../../shared/attachmentContract';
import { displayFileName } from '../../../shared/fileNames';
import type { MessageId } from '../../../shared/ids';
import { RoundsError } from '../errors';
import type { SqlRunner } from '../storage/ProfileDatabase';

/** Rows of ciphertext are at most this long (the upload's chunk size: one row, one request). */
export const STORED_CHUNK_BYTES = 4 * 1024 * 1024;

/** One attachment as the profile keeps it. The key is secret: it never leaves the core but in the end-to-end payload. */
export interface StoredAttachment {
  readonly id: AttachmentId;
  readonly messageId: MessageId;
  readonly position: number;
  readonly outgoing: boolean;
  readonly contentType: string;
  readonly kind: AttachmentKind;
  readonly size: number;
  readonly fileName: string | null;
  readonly width: number | null;
  readonly height: number | null;
  readonly thumbnail: Buffer | null;
  readonly key: Buffer;
  readonly digest: string;
  readonly cipherSize: number;
  readonly blobId: string | null;
  readonly state: AttachmentState;
  readonly transferred: number;
  readonly error: string | null;
  /** The policy's virus scan: 'clean' or 'infected' once run. */
  readonly scanned: 'clean' | 'infected' | null;
}

interface Row {
  id: string; message_id: string; position: number; outgoing: number; content_type: string; kind: string; size: number; file_name: string | null;
  width: number | null; height: number | null; thumbnail: Uint8Array | null; key: Uint8Array; digest: string; cipher_size: number; blob_id: string | null;
  state: string; transferred: number; error: string | null; scanned: string | null;
}

const toStored = (r: Row): StoredAttachment => ({
  id: r.id as AttachmentId, messageId: r.message_id as MessageId, position: r.position, outgoing: r.outgoing === 1, contentType: r.content_type,
  kind: r.kind as AttachmentKind, size: r.size, fileName: r.file_name, width: r.width, height: r.height, thumbnail: r.thumbnail && Buffer.from(r.thumbnail),
  key: Buffer.from(r.key), digest: r.digest, cipherSize: r.cipher_size, blobId: r.blob_id, state: r.state as AttachmentState, transferred: r.transferred,
  error: r.error, scanned: r.scanned === 'clean' || r.scanned === 'infected' ? r.scanned : null,
});

export function attachmentView(a: StoredAttachment): AttachmentView {
  return {
    id: a.id, contentType: a.contentType, kind: a.kind, size: a.size, fileName: displayFileName(a.fileName), width: a.width, height: a.height,
    thumbnail: a.thumbnail ? a.thumbnail.toString('base64') : null, state: a.state, transferred: a.transferred, error: a.error,
  };
}

export type NewAttachment = Omit<StoredAttachment, 'transferred' | 'error' | 'scanned'>;

/**
 * The attachments of this profile's messages and their bytes, kept encrypted twice: as the attachment's own
 * ciphertext, inside the SQLCipher database (secure_delete on: a deleted row's pages are zeroed). Rows go with
 * their message (retention, a wipe deletes the whole database).
 */
export class AttachmentStore {
  constructor(private readonly db: SqlRunner) {}

  insert(a: NewAttachment, at: number): void {
    this.db.run(
      `INSERT OR IGNORE INTO attachments (id, message_id, position, outgoing, content_type, kind, size, file_name, width, height, thumbnail, key, digest, cipher_size, blob_id, state, created_at)
       VALUES ($id, $m, $pos, $out, $ct, $kind, $size, $name, $w, $h, $thumb, $key, $digest, $csize, $blob, $state, $at)`,
      {
        id: a.id, m: a.messageId, pos: a.position, out: a.outgoing ? 1 : 0, ct: a.contentType, kind: a.kind, size: a.size, name: a.fileName, w: a.width, h: a.height,
        thumb: a.thumbnail ? new Uint8Array(a.thumbnail) : null, key: new Uint8Array(a.key), digest: a.digest, csize: a.cipherSize, blob: a.blobId, state: a.state, at,
      },
    );
  }

  get(id: string): StoredAttachment | undefined {
    const row = this.db.get<Row>('SELECT * FROM attachments WHERE id = $id', { id });
    return row && toStored(row);
  }

  /** The attachment of this message (NOT_FOUND otherwise: an id from the UI is checked against its message). */
  of(messageId: string, id: string): StoredAttachment {
    const found = this.get(id);
    if (!found || found.messageId !== messageId) throw new RoundsError('NOT_FOUND', 'no such attachment');
    return found;
  }

  byMessage(messageId: string): StoredAttachment[] {
    return this.db.all<Row>('SELECT * FROM attachments WHERE message_id = $m ORDER BY position', { m: messageId }).map(toStored);
  }

  /** The views of these messages' attachments, by message. */
  views(messageIds: readonly string[]): Map<string, AttachmentView[]> {
    const out = new Map<string, AttachmentView[]>();
    if (messageIds.length === 0) return out;
    const rows = this.db.all<Row>(`SELECT * FROM attachments WHERE message_id IN (SELECT value FROM json_each($ids)) ORDER BY message_id, position`, { ids: JSON.stringify(messageIds) });
    for (const row of rows) {
      const list = out.get(row.message_id) ?? [];
      list.push(attachmentView(toStored(row)));
      out.set(row.message_id, list);
    }
    return out;
  }

  inState(state: AttachmentState): StoredAttachment[] {
    return this.db.all<Row>('SELECT * FROM attachments WHERE state = $s ORDER BY created_at, message_id, position', { s: state }).map(toStored);
  }

  setState(id: string, state: AttachmentState, error: string | null = null): void {
    this.db.run('UPDATE attachments SET state = $s, error = $e WHERE id = $id', { id, s: state, e: error });
  }

  setBlob(id: string, blobId: string): void {
    this.db.run('UPDATE attachments SET blob_id = $b WHERE id = $id', { id, b: blobId });
  }

  setTransferred(id: string, transferred: number): void {
    this.db.run('UPDATE attachments SET transferred = $t WHERE id = $id', { id, t: transferred });
  }

  setScanned(id: string, verdict: 'clean' | 'infected'): void {
    this.db.run('UPDATE attachments SET scanned = $v WHERE id = $id', { id, v: verdict });
  }

  /** Adds ciphertext at `start` (in rows of at most STORED_CHUNK_BYTES). */
  appendBytes(id: string, start: number, data: Uint8Array): void {
    this.db.transaction(() => {
      for (let at = 0; at < data.length; at += STORED_CHUNK_BYTES) {
        this.db.run('INSERT OR REPLACE INTO attachment_bytes (attachment_id, start_at, data) VALUES ($id, $s, $d)', { id, s: start + at, d: new Uint8Array(data.subarray(at, at + STORED_CHUNK_BYTES)) });
      }
    });
  }

  /**
   * Stores ciphertext made piece by piece (attachmentCipher.encryptSegments) from offset 0, in rows of
   * STORED_CHUNK_BYTES: one row is in memory at a time, whatever the file's size. Call inside a transaction.
   */
  writePieces(id: string, pieces: Iterable<Uint8Array>): void {
    const row = Buffer.allocUnsafe(STORED_CHUNK_BYTES);
    let start = 0;
    let filled = 0;
    const flush = () => {
      if (filled > 0) this.db.run('INSERT OR REPLACE INTO attachment_bytes (attachment_id, start_at, data) VALUES ($id, $s, $d)', { id, s: start, d: new Uint8Array(row.subarray(0, filled)) });
      start += filled;
      filled = 0;
    };
    for (const piece of pieces) {
      for (let at = 0; at < piece.length; ) {
        const n = Math.min(piece.length - at, STORED_CHUNK_BYTES - filled);
        row.set(piece.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === STORED_CHUNK_BYTES) flush();
      }
    }
    flush();
  }

  setDigest(id: string, digest: string): void {
    this.db.run('UPDATE attachments SET digest = $d WHERE id = $id', { id, d: digest });
  }

  /** Ciphertext [start, end) as stored (shorter when less is stored). */
  readBytes(id: string, start: number, end: number): Buffer {
    const first = this.db.get<{ s: number | null }>('SELECT max(start_at) AS s FROM attachment_bytes WHERE attachment_id = $id AND start_at <= $start', { id, start })?.s ?? 0;
    const rows = this.db.all<{ start_at: number; data: Uint8Array }>('SELECT start_at, data FROM attachment_bytes WHERE attachment_id = $id AND start_at >= $first AND start_at < $end ORDER BY start_at', { id, first, end });
    const parts = rows.map((r) => Buffer.from(r.data).subarray(Math.max(0, start - r.start_at), Math.max(0, Math.min(r.data.length, end - r.start_at))));
    return Buffer.concat(parts);
  }

  /**
   * A reader of the ciphertext for one pass through it (segment by segment): it keeps the row it read last, so each
   * row of STORED_CHUNK_BYTES is read once rather than once per 64 KiB segment; a range across two rows is read whole.
   */
  ciphertextReader(id: string): (start: number, end: number) => Buffer {
    let row: { start: number; data: Buffer } | undefined;
    return (start, end) => {
      if (!row || start < row.start || end > row.start + row.data.length) {
        const found = this.db.get<{ start_at: number; data: Uint8Array }>('SELECT start_at, data FROM attachment_bytes WHERE attachment_id = $id AND start_at <= $start ORDER BY start_at DESC LIMIT 1', { id, start });
        row = found && { start: found.start_at, data: Buffer.from(found.data) };
        if (!row || end > row.start + row.data.length) return this.readBytes(id, start, end);
      }
      return row.data.subarray(start - row.start, end - row.start);
    };
  }

  /** Forgets the stored bytes (a refused or restarted download). */
  dropBytes(id: string): void {
    this.db.transaction(() => {
      this.db.run('DELETE FROM attachment_bytes WHERE attachment_id = $id', { id });
      this.db.run('UPDATE attachments SET transferred = 0 WHERE id = $id', { id });
    });
  }
}
