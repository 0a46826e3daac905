import { z } from 'zod';
import { MessageIdSchema } from './ids';

/*
 * The attachment part of the UI contract (issue 20), spread into `COMMANDS` and `UiEventSchema` of
 * shared/contract.ts. Bytes cross the UI boundary only as base64 chunks of at most 1 MiB (the browser
 * harness's bridge is JSON over a WebSocket): a file is staged in chunks before it is sent, and opened in
 * chunks for the viewer. No command carries key material; file names cross only in views (they can be PHI:
 * never in logs or audit records).
 */

/** Largest chunk of bytes in one command, either way (before base64). */
export const ATTACHMENT_CHUNK_BYTES = 1024 * 1024;
/** The hard ceiling on one attachment whatever the policy says (the policy's default is 100 MiB). */
export const MAX_ATTACHMENT_BYTES = 1024 * 1024 * 1024;
/** Attachments on one message. */
export const MAX_ATTACHMENTS_PER_MESSAGE = 10;

const Timestamp = z.number().int().nonnegative();
const ByteCount = z.number().int().nonnegative().max(MAX_ATTACHMENT_BYTES);
/** base64 of at most ATTACHMENT_CHUNK_BYTES bytes. */
const ChunkData = z.base64().max(Math.ceil(ATTACHMENT_CHUNK_BYTES / 3) * 4);

/** Names one attachment: random, chosen by the sender, the same on every device that holds the message. */
export const AttachmentIdSchema = z.uuid().regex(/^[0-9a-f-]+$/, 'lower-case UUID').brand<'AttachmentId'>();
export type AttachmentId = z.infer<typeof AttachmentIdSchema>;

/** A file being staged by the composer, before the message that carries it is sent. */
export const StagingIdSchema = z.uuid().regex(/^[0-9a-f-]+$/, 'lower-case UUID').brand<'StagingId'>();
export type StagingId = z.infer<typeof StagingIdSchema>;

/** What the UI does with an attachment: `image` (JPEG, PNG, HEIC/HEIF, ...) and `pdf` open in the viewer; `file` can only be saved. */
export const AttachmentKindSchema = z.enum(['image', 'pdf', 'file']);
export type AttachmentKind = z.infer<typeof AttachmentKindSchema>;

/**
 * Where an attachment is, on this workstation:
 * - outgoing: `uploading` (progress events), `uploadFailed` (retry resumes), `uploaded` (the message went);
 * - incoming: `remote` (not fetched: above the auto-download size, or not yet), `downloading`, `downloadFailed`
 *   (retry), `refused` (the blob or its digest did not verify: never shown), `infected` (the policy's virus
 *   scan found something: never opened), `stored` (in the encrypted profile, ready to open);
 * - `expired`: deleted by retention (here or on the relay).
 */
export const AttachmentStateSchema = z.enum(['uploading', 'uploadFailed', 'uploaded', 'remote', 'downloading', 'downloadFailed', 'refused', 'infected', 'stored', 'expired']);
export type AttachmentState = z.infer<typeof AttachmentStateSchema>;

/** What the UI shows of a file, whether staged in the composer or attached to a message. */
const AttachmentDescription = {
  /** Sniffed from the bytes by the sender (and checked again on receipt), never taken from the file name. */
  contentType: z.string().min(1).max(128),
  kind: AttachmentKindSchema,
  /** Bytes of the file as sent (after metadata was removed). */
  size: ByteCount,
  fileName: z.string().max(255).nullable(),
  width: z.number().int().positive().nullable(),
  height: z.number().int().positive().nullable(),
  /** A small JPEG preview (base64, at most 48 KiB) for images; for a message, from inside the end-to-end payload. */
  thumbnail: z.base64().max(65_536).nullable(),
};

/** One attachment of a message, as the conversation shows it (`MessageView.attachments`). */
export const AttachmentViewSchema = z.strictObject({
  id: AttachmentIdSchema,
  ...AttachmentDescription,
  state: AttachmentStateSchema,
  /** Bytes moved so far while `uploading`/`downloading` (else the last known; 0 before any). */
  transferred: ByteCount,
  /** Why the last transfer failed or the file was refused (a contract error code), else null. */
  error: z.string().max(64).nullable(),
});
export type AttachmentView = z.infer<typeof AttachmentViewSchema>;

/** A staged file, ready to go with `messages.send` (`attachments: [stagingId]`). */
export const StagedAttachmentViewSchema = z.strictObject({
  stagingId: StagingIdSchema,
  ...AttachmentDescription,
  /** EXIF (location, camera) or text metadata was found and removed from the image. */
  metadataRemoved: z.boolean(),
});
export type StagedAttachmentView = z.infer<typeof StagedAttachmentViewSchema>;

/** What the organisation's policy allows with attachments (OrgPolicy `attachments`), for the UI to show. */
export const AttachmentPolicyViewSchema = z.strictObject({
  maxBytes: ByteCount,
  /** Incoming attachments up to this size are fetched without asking (0: never automatically). */
  autoDownloadBytes: ByteCount,
  saveAllowed: z.boolean(),
  clipboardAllowed: z.boolean(),
  /** Received files are scanned with ClamAV before they can be opened. */
  scanBeforeOpen: z.boolean(),
});
export type AttachmentPolicyView = z.infer<typeof AttachmentPolicyViewSchema>;

const Empty = z.strictObject({});
const OneAttachment = z.strictObject({ messageId: MessageIdSchema, attachmentId: AttachmentIdSchema });

export const ATTACHMENT_COMMANDS = {
  'attachments.policy': { input: Empty, output: AttachmentPolicyViewSchema },
  /**
   * Staging a file chosen, dropped or pasted in the composer: `begin` (size checked against policy: ATTACHMENT_TOO_LARGE),
   * then `chunk` in order from offset 0 (each at most ATTACHMENT_CHUNK_BYTES), then `finish`, which sniffs the
   * type from the bytes, removes image metadata, makes the thumbnail and answers what will be sent. The bytes are
   * held encrypted in memory only; `discard` (or lock) drops them.
   */
  'attachments.stageBegin': {
    input: z.strictObject({ fileName: z.string().trim().min(1).max(255).optional(), size: z.number().int().positive().max(MAX_ATTACHMENT_BYTES) }),
    output: z.strictObject({ stagingId: StagingIdSchema, chunkBytes: z.number().int().positive() }),
  },
  'attachments.stageChunk': {
    input: z.strictObject({ stagingId: StagingIdSchema, offset: ByteCount, data: ChunkData }),
    output: z.strictObject({ received: ByteCount }),
  },
  'attachments.stageFinish': { input: z.strictObject({ stagingId: StagingIdSchema }), output: StagedAttachmentViewSchema },
  'attachments.stageDiscard': { input: z.strictObject({ stagingId: StagingIdSchema }), output: Empty },
  /** Stops an upload or download under way (state becomes `uploadFailed`/`downloadFailed` with ATTACHMENT_CANCELLED). */
  'attachments.cancel': { input: OneAttachment, output: Empty },
  /** Retries a failed upload (it resumes where the relay stopped; the message goes when all its attachments are up) or download. */
  'attachments.retry': { input: OneAttachment, output: Empty },
  /** Fetches an incoming attachment now (a `remote` one, or after a failure); answers when it is `stored` or fails. */
  'attachments.fetch': { input: OneAttachment, output: AttachmentViewSchema },
  /**
   * Bytes of a stored attachment for the viewer, `length` (at most ATTACHMENT_CHUNK_BYTES) from `offset`.
   * `variant: 'display'`: what the viewer shows (HEIC/HEIF converted to JPEG; for others the file itself);
   * `contentType` and `total` describe that variant. ATTACHMENT_NOT_STORED before it is fetched; with a
   * scan policy, ATTACHMENT_INFECTED / ATTACHMENT_SCAN_FAILED instead of the bytes.
   */
  'attachments.read': {
    input: OneAttachment.extend({ variant: z.enum(['original', 'display']).default('display'), offset: ByteCount, length: z.number().int().positive().max(ATTACHMENT_CHUNK_BYTES) }),
    output: z.strictObject({ contentType: z.string(), total: ByteCount, data: z.base64() }),
  },
  /**
   * Saves a stored attachment to a file the user picks (the door's save dialog), marked as downloaded from the
   * internet (Windows Zone.Identifier, macOS quarantine). ATTACHMENT_POLICY when the policy forbids saving;
   * `path` null when the user cancelled the dialog. ATTACHMENT_SAVE_FAILED (could not write there) and
   * ATTACHMENT_MARK_FAILED (the OS mark could not be set) leave nothing at the destination. The dialog offers the
   * name made safe (shared/fileNames.ts). Audited as begun, then saved or failed (size and type only).
   */
  'attachments.save': { input: OneAttachment, output: z.strictObject({ path: z.string().nullable() }) },
  /**
   * Puts a stored image on the clipboard (ATTACHMENT_POLICY when the policy forbids it; ATTACHMENT_TOO_LARGE past
   * 32 MiB or 50 megapixels); cleared on lock. Audited (size and type only).
   */
  'attachments.copyImage': { input: OneAttachment, output: Empty },
} as const;

/**
 * Transfer progress (at most a few per second per attachment): `transferred` of `total` bytes of ciphertext.
 * `state` is the attachment's state afterwards; the message's view carries the same.
 */
export const AttachmentProgressEventSchema = z.strictObject({
  type: z.literal('attachmentProgress'),
  messageId: MessageIdSchema,
  attachmentId: AttachmentIdSchema,
  direction: z.enum(['upload', 'download']),
  transferred: ByteCount,
  total: ByteCount,
  state: AttachmentStateSchema,
  /** A contract error code when the transfer failed or the file was refused. */
  error: z.string().max(64).nullable(),
  at: Timestamp,
});
export type AttachmentProgressEvent = z.infer<typeof AttachmentProgressEventSchema>;
