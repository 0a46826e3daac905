/*
 * Attachment blobs (issue 20): ciphertext the relay cannot read, kept in the database beside the envelopes
 * (every relay instance on a PostgreSQL store sees the same blobs; the embedded store's are inside its
 * SQLCipher file, so even the ciphertext is encrypted at rest a second time). A blob is uploaded in chunks
 * (resumable from `received`), completed once its SHA-256 matches, fetched only by the devices of its
 * uploader's account and of the accounts it names as readers, and deleted at `expiresAt`, or once every
 * device that was to fetch it has (after a grace period), or when its upload was abandoned. Every mutation
 * that a compliance officer cares about stores its audit records in the same transaction.
 */
import type { DeviceAddress, MessageId, UserId } from '../../shared/ids';
import type { AuditEvent } from '../audit/AuditRecord';

export interface NewBlob {
  readonly id: string;
  readonly owner: DeviceAddress;
  readonly size: number;
  /** base64 SHA-256 of the whole blob. */
  readonly sha256: string;
  readonly readers: readonly UserId[];
  /** Readers named only for the rungs of the escalation ladder of the owner's message `messageId` (readers too, till it ends). */
  readonly ladder?: { readonly messageId: string; readonly readers: readonly UserId[] } | undefined;
  readonly createdAt: number;
  readonly expiresAt: number;
}

export interface BlobRecord {
  readonly id: string;
  readonly owner: DeviceAddress;
  readonly size: number;
  readonly sha256: string;
  /** Bytes stored so far. */
  readonly received: number;
  readonly completedAt: number | null;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** Why a blob went (the `reason` of its `blob.deleted` record). */
export type BlobDeletion = 'retention' | 'fetched' | 'abandoned' | 'withdrawn' | 'digest';

/** What the housekeeping pass deletes, by rule. */
export interface BlobExpiry {
  readonly now: number;
  /** Complete blobs every device fetched more than this long ago. */
  readonly fetchedGraceMs: number;
  /** Incomplete uploads untouched for this long. */
  readonly abandonedAfterMs: number;
}

export interface BlobStore {
  /**
   * Reserves the blob: false (nothing stored) when the owner's account would then hold more than `quotaBytes` of
   * blobs (complete or not). Checked and inserted in one transaction, so two uploads at once cannot both squeeze in.
   */
  createBlob(blob: NewBlob, quotaBytes: number): Promise<boolean>;
  blob(id: string): Promise<BlobRecord | undefined>;
  /**
   * Appends `data` at `offset` when that is where the stored bytes end (else 'mismatch', nothing written); the
   * new `received`. Never past `size`.
   */
  appendChunk(id: string, offset: number, data: Uint8Array, at: number): Promise<number | 'mismatch'>;
  /** The stored bytes from `from` (inclusive) to `to` (exclusive), chunk by chunk, in order. */
  readRange(id: string, from: number, to: number): AsyncIterable<Uint8Array>;
  /**
   * Marks a fully received blob complete and notes which devices are to fetch it (the active devices of its
   * readers and of its owner's account, the uploading device aside); `audit` stored with it.
   */
  completeBlob(id: string, at: number, audit: readonly AuditEvent[]): Promise<void>;
  /**
   * Adds readers to a blob (those already readers stay; one named for a ladder alone is then a reader like any); a complete blob also waits for their
   * active devices' fetches. Returns how many accounts were new (`audit(added)` is stored with them when any were),
   * or 'tooMany' (nothing added) when the blob would then have more than `maxReaders`.
   */
  addReaders(id: string, readers: readonly UserId[], maxReaders: number, at: number, audit: (added: number) => readonly AuditEvent[]): Promise<number | 'tooMany'>;
  /**
   * The escalation ladder of `owner`'s message `messageId` ended with only `released` of its rungs' recipients reached:
   * on each of the owner's blobs, the readers named for that ladder alone (NewBlob.ladder, never named since by
   * addReaders) who are not in `released` stop being readers, and their devices are no longer waited for (the blob
   * then goes by the usual rule once the others fetched it); the released ones stay as any reader. `audit(blob,
   * removed)` is stored for each blob that lost readers, in the same transaction. Returns how many readers went.
   */
  endLadderReaders(owner: UserId, messageId: string, released: readonly UserId[], audit: (blobId: string, removed: number) => AuditEvent): Promise<number>;
  /**
   * The stopped ladders whose blobs still name readers for them alone (endLadderReaders did not run: the relay stopped
   * or its store failed in between), with whom their released rungs reached: housekeeping ends them again.
   */
  endedLadders(): Promise<EndedLadder[]>;
  /** Whether this device may fetch the blob: its account is the owner's or one of the readers. */
  mayRead(id: string, reader: DeviceAddress): Promise<boolean>;
  /** The device fetched the blob to its end: noted (the first time only, with `audit`). */
  recordFetch(id: string, reader: DeviceAddress, at: number, audit: readonly AuditEvent[]): Promise<void>;
  /** Deletes the blob and its bytes with `audit`; false when it was not there. */
  deleteBlob(id: string, audit: readonly AuditEvent[]): Promise<boolean>;
  /** Deletes what BlobExpiry's rules say, each with the audit record `audit` makes for it; how many. */
  expireBlobs(rules: BlobExpiry, audit: (blob: BlobRecord, reason: BlobDeletion) => AuditEvent): Promise<number>;
  /** Bytes of blobs the account holds (complete or not). */
  bytesHeldBy(userId: UserId): Promise<number>;
}

/** A stopped ladder of `owner`'s message as endLadderReaders takes it. */
export interface EndedLadder {
  readonly owner: UserId;
  readonly messageId: MessageId;
  readonly released: readonly UserId[];
}
