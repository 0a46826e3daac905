import { z } from 'zod';
import { CareTeamIdSchema, ConversationIdSchema, DistributionIdSchema, MessageIdSchema, UserIdSchema } from './ids';
import { LIMITS } from './limits';
import { AttachmentIdSchema, MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS_PER_MESSAGE } from './attachmentContract';
import { RoleDeliverySchema } from './wire/roles';
import { ForwardingStatusSchema } from './wire/presence';
import { AcknowledgementSignatureSchema, AcknowledgementStatementSchema } from './acknowledgement';

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
  /** Urgent only: the one-line reason the sender chose from the policy's list (issue 19). */
  urgentReason: z.string().trim().min(1).max(120).optional(),
  /**
   * Urgent with an escalation ladder (issue 19): everyone a later rung may reach, so that each recipient can
   * tell whose acknowledgement to accept. Who actually receives a rung, and when, the relay decides by time.
   */
  escalatesTo: z.array(UserIdSchema).min(1).max(50).optional(),
  /**
   * A copy an escalation ladder's rung carries (issue 19): released by the relay because nobody in `waitedFor`
   * acknowledged within `afterMs` of sending. Absent on the original message.
   */
  escalation: z.strictObject({
    escalationId: z.uuid(),
    rung: z.number().int().min(1).max(10),
    waitedFor: z.array(UserIdSchema).min(1).max(50),
    afterMs: z.number().int().nonnegative().max(86_400_000),
    /**
     * The message this copy is of (the copy has an id of its own, which no one else can know before it arrives,
     * so no other sender can make it look like a duplicate); acknowledging the copy acknowledges it.
     */
    original: MessageIdSchema.optional(),
  }).optional(),
  /**
   * 1:1 only: the other user, so our own other devices can file their copy (checked against the
   * conversation id, which is derived from the two users).
   */
  to: UserIdSchema.optional(),
  /** A message to an on-call role (issue 19): the role, its initiator and who held it (RoleDelivery). */
  role: RoleDeliverySchema.optional(),
  /**
   * A copy sent to whoever covers for `userId` (issue 19, presence): the sender saw them Off shift or Do not
   * disturb with a forward-to; the recipient shows "Forwarded: <name> is off shift". Absent on the original.
   */
  forwardedFor: z.strictObject({
    userId: UserIdSchema, status: ForwardingStatusSchema,
    /** The message to `userId` this copy stands for: acknowledging the copy acknowledges it (its ladder stops). */
    original: MessageIdSchema.optional(),
  }).optional(),
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

/**
 * A signed acknowledgement of an urgent message (shared/acknowledgement.ts), sent 1:1 to the message's sender,
 * every member of the conversation and the acknowledger's own other devices. Distinct from a read receipt.
 */
export const AcknowledgementPayloadSchema = z.strictObject({
  v: z.literal(PAYLOAD_VERSION),
  type: z.literal('acknowledgement'),
  /** The statement's conversation, repeated where every payload names its conversation (they must match). */
  conversationId: ConversationIdSchema,
  statement: AcknowledgementStatementSchema,
  signature: AcknowledgementSignatureSchema,
  sentAt: Timestamp,
}).refine((p) => p.conversationId === p.statement.conversationId, { message: 'conversationId must be the statement\'s', path: ['conversationId'] });

export const PayloadSchema = z.discriminatedUnion('type', [
  TextPayloadSchema,
  ReceiptPayloadSchema,
  SenderKeyDistributionPayloadSchema,
  CareTeamPayloadSchema,
  AcknowledgementPayloadSchema,
]);

export type TextPayload = z.infer<typeof TextPayloadSchema>;
export type ReceiptPayload = z.infer<typeof ReceiptPayloadSchema>;
export type SenderKeyDistributionPayload = z.infer<typeof SenderKeyDistributionPayloadSchema>;
export type CareTeamPayload = z.infer<typeof CareTeamPayloadSchema>;
export type AcknowledgementPayload = z.infer<typeof AcknowledgementPayloadSchema>;
export type Payload = z.infer<typeof PayloadSchema>;
export type PayloadType = Payload['type'];
