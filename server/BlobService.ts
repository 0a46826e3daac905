import { createHash, randomUUID } from 'node:crypto';
import type { DeviceAddress } from '../shared/ids';
import { MAX_BLOB_CHUNK_BYTES, type BlobCreateRequest, type BlobStatus } from '../shared/wire/blobs';
import type { AuditEvent } from './audit/AuditRecord';
import type { Clock } from './Clock';
import type { BlobLimits } from './RelayConfig';
import { RelayFailure } from './RelayFailure';
import type { BlobDeletion, BlobRecord, BlobStore } from './storage/BlobStore';

const DAY_MS = 24 * 3600_000;

/** One read of a blob: which bytes, and the bytes themselves as they come out of the store. */
export interface BlobRead {
  readonly size: number;
  readonly from: number;
  /** Exclusive. */
  readonly to: number;
  readonly bytes: AsyncIterable<Uint8Array>;
}

const actorOf = (address: DeviceAddress) => `${address.userId}.${address.deviceId}`;
const notFound = () => new RelayFailure('NOT_FOUND', 'no such blob');

/**
 * Attachment blobs as the relay serves them (issue 20): each account's quota, resumable uploads checked against
 * the SHA-256 declared up front, reads only for the devices of the accounts the uploader named (and its own),
 * and deletion by retention, after every device fetched it, or when an upload was abandoned. The relay sees
 * ciphertext, sizes and who may fetch: never a key, a file name or a type. Audited by id and size only.
 */
export class BlobService {
  constructor(
    private readonly store: BlobStore,
    private readonly clock: Clock,
    private readonly limits: BlobLimits,
    private readonly retentionDays: number,
  ) {}

  async create(owner: DeviceAddress, request: BlobCreateRequest): Promise<BlobStatus> {
    if (request.size > this.limits.maxBlobBytes) throw new RelayFailure('PAYLOAD_TOO_LARGE', `a blob may hold at most ${this.limits.maxBlobBytes} bytes`);
    const now = this.clock.now();
    const latest = now + this.retentionDays * DAY_MS;
    const blob = { id: randomUUID(), owner, size: request.size, sha256: request.sha256, readers: request.readers, createdAt: now, expiresAt: Math.min(latest, request.expiresAt ?? latest) };
    if (!await this.store.createBlob(blob, this.limits.accountQuotaBytes)) {
      throw new RelayFailure('BLOB_QUOTA_EXCEEDED', `this account holds as many attachment bytes on the relay as it may (${this.limits.accountQuotaBytes}); they go once fetched or expired`);
    }
    return this.#status({ ...blob, received: 0, completedAt: null });
  }

  async status(caller: DeviceAddress, id: string): Promise<BlobStatus> {
    return this.#status(await this.#owned(caller, id));
  }

  /** The next bytes of an upload at `offset`; the last ones complete it once the whole blob matches its SHA-256. */
  async append(caller: DeviceAddress, id: string, offset: number, data: Uint8Array): Promise<BlobStatus> {
    const blob = await this.#owned(caller, id);
    if (data.length === 0 || data.length > MAX_BLOB_CHUNK_BYTES) throw new RelayFailure('BAD_REQUEST', `a chunk holds 1 to ${MAX_BLOB_CHUNK_BYTES} bytes`);
    if (blob.completedAt !== null) throw new RelayFailure('BLOB_OFFSET_MISMATCH', 'the blob is complete already');
    if (offset + data.length > blob.size) throw new RelayFailure('PAYLOAD_TOO_LARGE', 'the chunk runs past the size declared for the blob');
    const received = await this.store.appendChunk(id, offset, data, this.clock.now());
    if (received === 'mismatch') throw new RelayFailure('BLOB_OFFSET_MISMATCH', 'the chunk does not start where the stored bytes end: ask the status and go on from `received`');
    if (received < blob.size) return this.#status({ ...blob, received });
    const digest = createHash('sha256');
    for await (const chunk of this.store.readRange(id, 0, blob.size)) digest.update(chunk);
    if (digest.digest('base64') !== blob.sha256) {
      await this.store.deleteBlob(id, [this.#deleted(blob, 'digest')]);
      throw new RelayFailure('BLOB_DIGEST_MISMATCH', 'the uploaded bytes do not match the SHA-256 declared for them; the blob was dropped');
    }
    const at = this.clock.now();
    await this.store.completeBlob(id, at, [{ type: 'blob.stored', actor: actorOf(caller), subject: id, details: { size: blob.size } }]);
    return this.#status({ ...blob, received, completedAt: at });
  }

  /**
   * Bytes of a complete blob for a device allowed to read it; `range` as [from, to] inclusive (a missing `to`:
   * to the end). NOT_FOUND alike for a blob that is not there and one that is not for this device.
   */
  async read(caller: DeviceAddress, id: string, range?: { from: number; to?: number }): Promise<BlobRead> {
    const blob = await this.store.blob(id);
    if (!blob || blob.completedAt === null || blob.expiresAt <= this.clock.now() || !await this.store.mayRead(id, caller)) throw notFound();
    const from = range?.from ?? 0;
    const to = Math.min(blob.size, range?.to === undefined ? blob.size : range.to + 1);
    if (from >= to) throw new RelayFailure('BAD_REQUEST', `the range is outside the blob's ${blob.size} bytes`);
    return { size: blob.size, from, to, bytes: this.store.readRange(id, from, to) };
  }

  /** A device has read the blob to its end (the first time is audited; once all its devices have, it can go). */
  async fetched(caller: DeviceAddress, id: string): Promise<void> {
    const blob = await this.store.blob(id);
    if (blob) await this.store.recordFetch(id, caller, this.clock.now(), [{ type: 'blob.fetched', actor: actorOf(caller), subject: id, details: { size: blob.size } }]);
  }

  /** The uploader withdraws the blob (a cancelled upload, or a message never sent). */
  async withdraw(caller: DeviceAddress, id: string): Promise<void> {
    const blob = await this.#owned(caller, id);
    await this.store.deleteBlob(id, [this.#deleted(blob, 'withdrawn', actorOf(caller))]);
  }

  /** Housekeeping: deletes what retention, the fetches and abandoned uploads say; how many. */
  expire(): Promise<number> {
    return this.store.expireBlobs(
      { now: this.clock.now(), fetchedGraceMs: this.limits.fetchedGraceMs, abandonedAfterMs: this.limits.abandonedAfterMs },
      (blob, reason) => this.#deleted(blob, reason),
    );
  }

  async #owned(caller: DeviceAddress, id: string): Promise<BlobRecord> {
    const blob = await this.store.blob(id);
    // Only the device that began the upload continues it: another could not know the bytes anyway.
    if (!blob || blob.owner.userId !== caller.userId || blob.owner.deviceId !== caller.deviceId) throw notFound();
    return blob;
  }

  #deleted(blob: BlobRecord, reason: BlobDeletion, actor = 'system'): AuditEvent {
    return { type: 'blob.deleted', actor, subject: blob.id, details: { size: blob.size, reason } };
  }

  #status(blob: Pick<BlobRecord, 'id' | 'size' | 'received' | 'completedAt' | 'expiresAt'>): BlobStatus {
    return { id: blob.id as BlobStatus['id'], size: blob.size, received: blob.received, complete: blob.completedAt !== null, expiresAt: blob.expiresAt, chunkBytes: MAX_BLOB_CHUNK_BYTES };
  }
}
