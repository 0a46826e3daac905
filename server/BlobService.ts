import { createHash, randomUUID } from 'node:crypto';
import type { DeviceAddress, MessageId, UserId } from '../shared/ids';
import { MAX_BLOB_CHUNK_BYTES, MAX_BLOB_READERS, type BlobCreateRequest, type BlobLimits as BlobLimitsAnswer, type BlobReadersRequest, type BlobStatus } from '../shared/wire/blobs';
import type { AuditEvent } from './audit/AuditRecord';
import type { Clock } from './Clock';
import { InMemoryRateLimiter, type RateLimiter } from './RateLimiter';
import type { BlobLimits } from './RelayConfig';
import { RelayFailure, storageFull } from './RelayFailure';
import type { BlobDeletion, BlobRecord, BlobStore } from './storage/BlobStore';
import { belowFreeDiskReserve, type RelayStore } from './storage/RelayStore';

const DAY_MS = 24 * 3600_000;

/** One read of a blob: which bytes, and the bytes themselves as they come out of the store. */
export interface BlobRead {
  readonly size: number;
  readonly from: number;
  /** Exclusive. */
  readonly to: number;
  readonly bytes: AsyncIterable<Uint8Array>;
}

const MINUTE_MS = 60_000;
/** Downloads under way whose bytes so far came in order (their fetch is noted once the last byte went). */
const MAX_TRACKED_DOWNLOADS = 10_000;

const actorOf = (address: DeviceAddress) => `${address.userId}.${address.deviceId}`;
const notFound = () => new RelayFailure('NOT_FOUND', 'no such blob');

/** What keeps blobs from crowding out the rest of the relay: its rate limiter and its free-disk reserve. */
export interface BlobGuards {
  /** Shared with the other instances on a PostgreSQL store (else this process's own). */
  readonly limiter?: RateLimiter;
  /** The store's free space, and the relay's --min-free-disk-mib (blobs stop `freeDiskHeadroomBytes` above it). */
  readonly disk?: { readonly store: Pick<RelayStore, 'freeBytes'>; readonly minFreeDiskBytes: number };
}

/**
 * Attachment blobs as the relay serves them (issue 20): each account's quota, resumable uploads checked against
 * the SHA-256 declared up front, reads only for the devices of the accounts the uploader named (and its own),
 * and deletion by retention, after every device fetched it, or when an upload was abandoned. The relay sees
 * ciphertext, sizes and who may fetch: never a key, a file name or a type. Audited by id and size only.
 */
export class BlobService {
  readonly #limiter: RateLimiter;
  /** Per reader device and blob: how far its downloads so far went from the first byte on, in order. */
  readonly #sentInOrder = new Map<string, number>();

  constructor(
    private readonly store: BlobStore,
    private readonly clock: Clock,
    private readonly limits: BlobLimits,
    private readonly retentionDays: number,
    private readonly guards: BlobGuards = {},
  ) {
    this.#limiter = guards.limiter ?? new InMemoryRateLimiter();
  }

  /**
   * Charges one blob request of `bytes` (a chunk's, or a download's) to the device's rate (BLOB_RATE_LIMITED, 429
   * with Retry-After, past `requestsPerDeviceMinute` or `bytesPerDeviceMinute`).
   */
  async charge(caller: DeviceAddress, bytes: number): Promise<void> {
    const device = actorOf(caller);
    const decision = await this.#limiter.take([
      { key: `blobs.requests ${device}`, cost: 1, limit: { amount: this.limits.requestsPerDeviceMinute, windowMs: MINUTE_MS } },
      { key: `blobs.bytes ${device}`, cost: bytes, limit: { amount: this.limits.bytesPerDeviceMinute, windowMs: MINUTE_MS } },
    ], this.clock.now());
    if (decision.ok) return;
    const seconds = Math.ceil(decision.retryAfterMs / 1000);
    throw new RelayFailure('BLOB_RATE_LIMITED', `this device is moving attachments faster than the relay allows; try again in ${seconds} s`, { retryAfterSeconds: seconds, retryAfterMs: decision.retryAfterMs });
  }

  /** The largest blob and chunk this relay takes (a workstation checks a file against them when it is attached). */
  limitsAnswer(): BlobLimitsAnswer {
    return { maxBlobBytes: this.limits.maxBlobBytes, chunkBytes: MAX_BLOB_CHUNK_BYTES };
  }

  async create(owner: DeviceAddress, request: BlobCreateRequest): Promise<BlobStatus> {
    if (request.size > this.limits.maxBlobBytes) throw new RelayFailure('PAYLOAD_TOO_LARGE', `a blob may hold at most ${this.limits.maxBlobBytes} bytes`);
    await this.#assertDiskRoom(request.size);
    const now = this.clock.now();
    const latest = now + this.retentionDays * DAY_MS;
    // Readers for a ladder's rungs alone: not the uploader's account, nor accounts the message itself reaches.
    const ladderOnly = request.ladder?.readers.filter((u) => u !== owner.userId && !request.readers.includes(u)) ?? [];
    if (new Set([...request.readers, ...ladderOnly]).size > MAX_BLOB_READERS) throw new RelayFailure('BAD_REQUEST', `a blob may name at most ${MAX_BLOB_READERS} readers`);
    const blob = {
      id: randomUUID(), owner, size: request.size, sha256: request.sha256, readers: request.readers, createdAt: now, expiresAt: Math.min(latest, request.expiresAt ?? latest),
      ...(request.ladder && ladderOnly.length > 0 ? { ladder: { messageId: request.ladder.messageId, readers: ladderOnly } } : {}),
    };
    if (!await this.store.createBlob(blob, this.limits.accountQuotaBytes)) {
      throw new RelayFailure('BLOB_QUOTA_EXCEEDED', `this account holds as many attachment bytes on the relay as it may (${this.limits.accountQuotaBytes}); they go once fetched or expired`);
    }
    return this.#status({ ...blob, received: 0, completedAt: null });
  }

  /**
   * How far the upload got. One whose bytes are all there but that is not complete (the relay failed, or stopped,
   * between storing the last chunk and completing it) is checked and completed now, as the last chunk would have.
   */
  async status(caller: DeviceAddress, id: string): Promise<BlobStatus> {
    const blob = await this.#owned(caller, id);
    return blob.completedAt === null && blob.received === blob.size ? this.#complete(caller, blob) : this.#status(blob);
  }

  /**
   * The next bytes of an upload at `offset`; the last ones complete it once the whole blob matches its SHA-256.
   * An empty chunk at the end of a fully received upload completes it (as its status does).
   */
  async append(caller: DeviceAddress, id: string, offset: number, data: Uint8Array): Promise<BlobStatus> {
    const blob = await this.#owned(caller, id);
    if (data.length > MAX_BLOB_CHUNK_BYTES) throw new RelayFailure('BAD_REQUEST', `a chunk holds 1 to ${MAX_BLOB_CHUNK_BYTES} bytes`);
    if (blob.completedAt !== null) throw new RelayFailure('BLOB_OFFSET_MISMATCH', 'the blob is complete already');
    if (data.length === 0) {
      if (offset === blob.size && blob.received === blob.size) return this.#complete(caller, blob);
      throw new RelayFailure('BAD_REQUEST', `a chunk holds 1 to ${MAX_BLOB_CHUNK_BYTES} bytes (an empty one only at the end of a fully sent upload)`);
    }
    if (offset + data.length > blob.size) throw new RelayFailure('PAYLOAD_TOO_LARGE', 'the chunk runs past the size declared for the blob');
    await this.#assertDiskRoom(data.length);
    const received = await this.store.appendChunk(id, offset, data, this.clock.now());
    if (received === 'mismatch') throw new RelayFailure('BLOB_OFFSET_MISMATCH', 'the chunk does not start where the stored bytes end: ask the status and go on from `received`');
    return received < blob.size ? this.#status({ ...blob, received }) : this.#complete(caller, { ...blob, received });
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

  /**
   * Bytes [from, to) of a blob went out to a device in full. Once its downloads have covered the blob from its
   * first byte to its last, in order (one request, or ranges each starting where the last ended), the blob is
   * fetched for it. A HEAD, a range for the last byte alone, or ranges with a gap are not a fetch.
   */
  async sent(caller: DeviceAddress, id: string, from: number, to: number, size: number): Promise<void> {
    const key = `${actorOf(caller)} ${id}`;
    const before = from === 0 ? 0 : this.#sentInOrder.get(key);
    if (before === undefined || from > before) return;
    this.#sentInOrder.delete(key);
    if (Math.max(before, to) >= size) return this.fetched(caller, id);
    // The oldest download under way is forgotten first (its device then confirms the fetch itself, or not at all).
    if (this.#sentInOrder.size >= MAX_TRACKED_DOWNLOADS) this.#sentInOrder.delete(this.#sentInOrder.keys().next().value as string);
    this.#sentInOrder.set(key, Math.max(before, to));
  }

  /**
   * A device has the whole blob (the first time is audited; once all its devices have, it can go): after a
   * download to the end, or when the device confirms it (POST /v1/blobs/:id/fetched, after its digest check).
   * NOT_FOUND for a device that may not read it, as for a blob that is not there.
   */
  async fetched(caller: DeviceAddress, id: string): Promise<void> {
    const blob = await this.store.blob(id);
    if (!blob || blob.completedAt === null || !await this.store.mayRead(id, caller)) throw notFound();
    await this.store.recordFetch(id, caller, this.clock.now(), [{ type: 'blob.fetched', actor: actorOf(caller), subject: id, details: { size: blob.size } }]);
  }

  /**
   * The uploader names more readers: whom its message reaches as decided when the message goes, after the upload (a
   * role's holders at that moment, a colleague covering for the recipient). Only the uploading device may (NOT_FOUND
   * to anyone else, as for a blob that is not there); a reader is removed only as ladderEnded says.
   * Audited with the number added, never who.
   */
  async addReaders(caller: DeviceAddress, id: string, request: BlobReadersRequest): Promise<void> {
    const blob = await this.#owned(caller, id);
    const added = await this.store.addReaders(id, request.readers.filter((u) => u !== blob.owner.userId), MAX_BLOB_READERS, this.clock.now(),
      (count) => [{ type: 'blob.readersAdded', actor: actorOf(caller), subject: id, details: { readers: count } }]);
    if (added === 'tooMany') throw new RelayFailure('BAD_REQUEST', `a blob may name at most ${MAX_BLOB_READERS} readers`);
  }

  /**
   * The escalation ladder of `sender`'s message stopped (acknowledged) with only `released` of its rungs' recipients
   * reached: the readers its blobs named for that ladder alone and never reached stop being readers (they never got
   * the key), so the blob goes by the usual rule once the readers who did get the message fetched it (expire()).
   * Audited per blob with how many, never who.
   */
  async ladderEnded(sender: UserId, messageId: MessageId, released: readonly UserId[]): Promise<number> {
    return this.store.endLadderReaders(sender, messageId, released, (blobId, removed) => ({ type: 'blob.readersRemoved', actor: 'system', subject: blobId, details: { readers: removed, message: messageId } }));
  }

  /** The uploader withdraws the blob (a cancelled upload, or a message never sent). */
  async withdraw(caller: DeviceAddress, id: string): Promise<void> {
    const blob = await this.#owned(caller, id);
    await this.store.deleteBlob(id, [this.#deleted(blob, 'withdrawn', actorOf(caller))]);
  }

  /** Housekeeping: ends readers of stopped ladders left over, deletes what retention, the fetches and abandoned uploads say (how many). Forgets refilled rate buckets. */
  async expire(): Promise<number> {
    await this.#limiter.prune(this.clock.now());
    // Ladders that stopped while their readers could not be removed then (ladderEnded failed, or the relay stopped).
    for (const ladder of await this.store.endedLadders()) await this.ladderEnded(ladder.owner, ladder.messageId, ladder.released);
    return this.store.expireBlobs(
      { now: this.clock.now(), fetchedGraceMs: this.limits.fetchedGraceMs, abandonedAfterMs: this.limits.abandonedAfterMs },
      (blob, reason) => this.#deleted(blob, reason),
    );
  }

  /** Checks the whole blob against its SHA-256 (dropping it if it does not match) and completes it. */
  async #complete(caller: DeviceAddress, blob: BlobRecord): Promise<BlobStatus> {
    const digest = createHash('sha256');
    for await (const chunk of this.store.readRange(blob.id, 0, blob.size)) digest.update(chunk);
    if (digest.digest('base64') !== blob.sha256) {
      await this.store.deleteBlob(blob.id, [this.#deleted(blob, 'digest')]);
      throw new RelayFailure('BLOB_DIGEST_MISMATCH', 'the uploaded bytes do not match the SHA-256 declared for them; the blob was dropped');
    }
    const at = this.clock.now();
    await this.store.completeBlob(blob.id, at, [{ type: 'blob.stored', actor: actorOf(caller), subject: blob.id, details: { size: blob.size } }]);
    return this.#status({ ...blob, completedAt: at });
  }

  /**
   * Blobs are refused (RELAY_STORAGE_FULL, Retry-After) while storing `incoming` more bytes would leave less free
   * than the relay's reserve plus `freeDiskHeadroomBytes`: attachments stop before messages and sign-ins do.
   */
  async #assertDiskRoom(incoming: number): Promise<void> {
    const disk = this.guards.disk;
    if (!disk) return;
    const reserve = disk.minFreeDiskBytes + this.limits.freeDiskHeadroomBytes + incoming;
    if ((await belowFreeDiskReserve(disk.store, reserve)).low) {
      throw storageFull('the relay is keeping its free storage for messages: no attachments for now');
    }
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
