import { z } from 'zod';
import { MessageIdSchema, UserIdSchema } from '../ids';

/*
 * Attachment blobs on the relay (issue 20). A blob is ciphertext the relay cannot read: the workstation
 * encrypts each attachment with its own random key, which travels only inside the end-to-end payload.
 *
 *   GET    /v1/blobs/limits        -> BlobLimits                           the largest blob this relay takes (the
 *                                  workstation refuses a larger file when it is attached, not halfway up)
 *   POST   /v1/blobs               BlobCreateRequest -> BlobStatus (201)   reserve room (quota) for `size` bytes
 *   GET    /v1/blobs/:id/status    -> BlobStatus                           how far an upload got (resume from `received`)
 *   PATCH  /v1/blobs/:id           application/octet-stream, header `Upload-Offset: <received>` -> BlobStatus
 *                                  the next bytes; the last one completes the blob once its SHA-256 matches
 *                                  (an upload whose bytes are all there but not complete is completed by its status,
 *                                  or by an empty PATCH at offset `size`)
 *   GET    /v1/blobs/:id           the bytes (optionally `Range: bytes=a-b`): the uploader's account and the
 *                                  accounts it named as readers only; a complete blob only (no HEAD)
 *   POST   /v1/blobs/:id/fetched   -> {}  the reader has the whole blob and its digest matched (the relay also counts
 *                                  a fetch itself once a device's downloads covered the blob in order on one instance)
 *   POST   /v1/blobs/:id/readers   BlobReadersRequest -> {}  the uploader names more readers: those its message
 *                                  reaches as decided when it goes (a role's holders then, a covering colleague);
 *                                  at most MAX_BLOB_READERS in all. Readers named only for an escalation ladder's
 *                                  rungs (`ladder` at creation) are removed by the relay when the ladder is
 *                                  acknowledged before their rung went; no other reader is ever removed
 *   DELETE /v1/blobs/:id           the uploader withdraws it (a cancelled upload, or a message never sent)
 *
 * Every request carries the device's bearer credential (checked before a body is read). Errors are the relay's
 * `{ code, message }`: BLOB_QUOTA_EXCEEDED (507), BLOB_OFFSET_MISMATCH (409: ask the status and go on from
 * `received`), BLOB_DIGEST_MISMATCH (422: the blob is dropped), PAYLOAD_TOO_LARGE (413), NOT_FOUND (404: no such
 * blob, or not for this device: the two are not told apart), BLOB_RATE_LIMITED (429, Retry-After: too many bytes or
 * requests a minute, or too many transfers at once), RELAY_STORAGE_FULL (507, Retry-After: the relay keeps its
 * free disk for messages).
 */

/** Blob ids are random UUIDs chosen by the relay. */
export const BlobIdSchema = z.uuid().regex(/^[0-9a-f-]+$/, 'lower-case UUID').brand<'BlobId'>();
export type BlobId = z.infer<typeof BlobIdSchema>;

/** The largest body of one PATCH. */
export const MAX_BLOB_CHUNK_BYTES = 4 * 1024 * 1024;

/** The most accounts one blob may name as readers (a care team's members, with escalation and coverage). */
export const MAX_BLOB_READERS = 1000;

/** SHA-256 (base64) of the whole blob as the relay will store it. */
export const BlobDigestSchema = z.base64().length(44);

export const BlobCreateRequestSchema = z.strictObject({
  size: z.number().int().positive().max(2 ** 40),
  sha256: BlobDigestSchema,
  /**
   * The accounts whose devices may fetch it (the recipients of the message; for a care team its members).
   * The uploader's own account always may (its other devices file their copy).
   */
  readers: z.array(UserIdSchema).max(MAX_BLOB_READERS),
  /** The sender's retention for the message (ms since the epoch); the relay keeps it no longer than its own. */
  expiresAt: z.number().int().positive().optional(),
  /**
   * Accounts that may fetch it only because a rung of the urgent message's escalation ladder (POST /v1/escalations,
   * same `messageId`) names them. They are readers too; but when the ladder stops (acknowledged) before their rung
   * went, the relay removes them again, so the blob goes once the readers who did get the message fetched it.
   */
  ladder: z.strictObject({ messageId: MessageIdSchema, readers: z.array(UserIdSchema).min(1).max(MAX_BLOB_READERS) }).optional(),
});
export type BlobCreateRequest = z.infer<typeof BlobCreateRequestSchema>;

/** More accounts whose devices may fetch the blob (added to those named at creation). */
export const BlobReadersRequestSchema = z.strictObject({ readers: z.array(UserIdSchema).min(1).max(MAX_BLOB_READERS) });
export type BlobReadersRequest = z.infer<typeof BlobReadersRequestSchema>;

export const BlobStatusSchema = z.strictObject({
  id: BlobIdSchema,
  size: z.number().int().positive(),
  /** Bytes the relay holds (the next PATCH starts here). */
  received: z.number().int().nonnegative(),
  complete: z.boolean(),
  expiresAt: z.number().int(),
  /** The most one PATCH may carry. */
  chunkBytes: z.number().int().positive(),
});
export type BlobStatus = z.infer<typeof BlobStatusSchema>;

/** What the relay takes (GET /v1/blobs/limits): the largest blob (bytes of ciphertext) and the largest chunk. */
export const BlobLimitsSchema = z.strictObject({
  maxBlobBytes: z.number().int().positive(),
  chunkBytes: z.number().int().positive(),
});
export type BlobLimits = z.infer<typeof BlobLimitsSchema>;
