import { z } from 'zod';
import { CareTeamIdSchema, ConversationIdSchema, DistributionIdSchema, MessageIdSchema, UserIdSchema } from './ids';
import { LIMITS } from './limits';
import { AttachmentIdSchema, MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS_PER_MESSAGE } from './attachmentContract';

/**
 * The plaintext that travels inside every Signal ciphertext. It is versioned: `v` is checked first, so a
 * newer client's payload is rejected as UNSUPPORTED_PAYLOAD_VERSION (not as garbage) and can be reported.
 */
export const PAYLOAD_VERSION = 1 as const;

const Timestamp = z.number().int().nonnegative().max(8.64e15);
const Base64 = z.base64();

/**
 * An attachment (issue 20): where its encrypted blob is on the relay, and what opens it. `key` (32 bytes) and
 * `digest` (SHA-256 of the whole blob) live only inside this end-to-end encrypted payload; the relay sees the
 * blob and its size, never these. For a care team the payload goes once, under the sender key: one upload.
 */
export const AttachmentPointerSchema = z.strictObject({
  id: AttachmentIdSchema,
  /** The relay's id of the blob. */
  blobId: z.uuid().max(64),
  /** Sniffed from the bytes by the sender; the receiver sniffs again. */
  contentType: z.string().min(1).max(128),
  /** Bytes of the file (after metadata removal). */
  size: z.number().int().nonnegative().max(MAX_ATTACHMENT_BYTES),
  /** Bytes of the encrypted blob on the relay. */
  cipherSize: z.number().int().positive().max(2 * MAX_ATTACHMENT_BYTES),
  digest: Base64.length(44),
  key: Base64.length(44),
  fileName: z.string().max(255).optional(),
  width: z.number().int().positive().max(100_000).optional(),
  height: z.number().int().positive().max(100_000).optional(),
  /** A small JPEG preview of an image (at most 6,000 bytes). */
  thumbnail: Base64.max(8000).optional(),
});
export type AttachmentPointer = z.infer<typeof AttachmentPointerSchema>;

export const TextPayloadSchema = z.strictObject({
  v: z.literal(PAYLOAD_VERSION),
  type: z.literal('text'),
  messageId: MessageIdSchema,
  conversationId: ConversationIdSchema,
  sentAt: Timestamp,
  /** May be empty when the message carries attachments. */
  text: z.string().max(LIMITS.maxTextLength),
  replyTo: MessageIdSchema.optional(),
  urgent: z.boolean().optional(),
  /**
   * 1:1 only: the other user, so our own other devices can file their copy (checked against the
   * conversation id, which is derived from the two users).
   */
  to: UserIdSchema.optional(),
  attachments: z.array(AttachmentPointerSchema).min(1).max(MAX_ATTACHMENTS_PER_MESSAGE).optional(),
}).refine((p) => p.text.length > 0 || p.attachments !== undefined, { message: 'a text message needs text or an attachment', path: ['text'] });

export const ReceiptPayloadSchema = z.strictObject({
  v: z.literal(PAYLOAD_VERSION),
  type: z.literal('receipt'),
  receipt: z.enum(['delivered', 'read']),
  conversationId: ConversationIdSchema,
  messageIds: z.array(MessageIdSchema).min(1).max(500),
  sentAt: Timestamp,
});

/** Sent 1:1 to each care-team member device: the sender key it needs to read our group messages. */
export const SenderKeyDistributionPayloadSchema = z.strictObject({
  v: z.literal(PAYLOAD_VERSION),
  type: z.literal('senderKeyDistribution'),
  conversationId: ConversationIdSchema,
  distributionId: DistributionIdSchema,
  message: Base64.max(4096),
  sentAt: Timestamp,
});

export const CareTeamTitleSchema = z.string().trim().min(1).max(100);

/**
 * A care team's name and members, as of one version (`epoch`). Sent 1:1 to every device of every member,
 * old and new, and to the sender's own other devices, each time a member changes it. The highest epoch
 * wins; between two changes made at once with the same epoch, the one by the greater user id wins, so
 * every member ends up with the same team.
 */
export const CareTeamPayloadSchema = z.strictObject({
  v: z.literal(PAYLOAD_VERSION),
  type: z.literal('careTeam'),
  conversationId: CareTeamIdSchema,
  epoch: z.number().int().min(1).max(2 ** 31 - 1),
  title: CareTeamTitleSchema,
  members: z.array(UserIdSchema).min(1).max(LIMITS.maxCareTeamMembers),
  sentAt: Timestamp,
});

export const PayloadSchema = z.discriminatedUnion('type', [
  TextPayloadSchema,
  ReceiptPayloadSchema,
  SenderKeyDistributionPayloadSchema,
  CareTeamPayloadSchema,
]);

export type TextPayload = z.infer<typeof TextPayloadSchema>;
export type ReceiptPayload = z.infer<typeof ReceiptPayloadSchema>;
export type SenderKeyDistributionPayload = z.infer<typeof SenderKeyDistributionPayloadSchema>;
export type CareTeamPayload = z.infer<typeof CareTeamPayloadSchema>;
export type Payload = z.infer<typeof PayloadSchema>;
export type PayloadType = Payload['type'];
