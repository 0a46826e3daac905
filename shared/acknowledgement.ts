import { z } from 'zod';
import { canonicalJson } from './audit/canonicalJson';
import { ConversationIdSchema, DeviceAddressSchema, MessageIdSchema, UserIdSchema } from './ids';

/*
 * A signed acknowledgement of an urgent message (issue 19): "I, this device of this account, acknowledge the
 * message M of sender S in conversation C at time T", signed with the acknowledging device's identity key
 * (XEdDSA, libsignal PrivateKey.sign). Receivers verify it against the identity key they trust for that device,
 * the relay against the one that device uploaded; the audit log keeps the statement and its signature, so the
 * closed loop can be proven later from the log alone. Ids and times only: never the message's text.
 */

const Timestamp = z.number().int().nonnegative().max(8.64e15);

/** What is signed: every field a replay could change (another message, conversation, sender, device or time). */
export const AcknowledgementStatementSchema = z.strictObject({
  messageId: MessageIdSchema,
  conversationId: ConversationIdSchema,
  /** The urgent message's sender (whose message is acknowledged). */
  sender: UserIdSchema,
  /** The device that acknowledged it, and whose identity key signed. */
  acknowledger: DeviceAddressSchema,
  acknowledgedAt: Timestamp,
  /**
   * Set when the acknowledger had the message as the colleague covering for this recipient (a presence
   * forwarding copy): "acknowledged by Dr. Patel, covering for Dr. Lee". Signed with the rest.
   */
  coveringFor: UserIdSchema.optional(),
});
export type AcknowledgementStatement = z.infer<typeof AcknowledgementStatementSchema>;

/** An XEdDSA signature: 64 bytes, base64. */
export const AcknowledgementSignatureSchema = z.base64().length(88);

export const SignedAcknowledgementSchema = z.strictObject({
  statement: AcknowledgementStatementSchema,
  signature: AcknowledgementSignatureSchema,
});
export type SignedAcknowledgement = z.infer<typeof SignedAcknowledgementSchema>;

/**
 * The domain-separation prefix: a signature over these bytes can never be mistaken for one over a prekey
 * (libsignal signs serialized public keys, which begin with 0x05), nor over any later statement kind.
 */
export const ACKNOWLEDGEMENT_DOMAIN = 'Rounds acknowledgement v1\n';

/** The exact bytes signed and verified: the domain prefix, then the statement's canonical JSON. */
export function acknowledgementSigningBytes(statement: AcknowledgementStatement): Uint8Array<ArrayBuffer> {
  const { messageId, conversationId, sender, acknowledger, acknowledgedAt, coveringFor } = statement;
  // coveringFor only when set: a statement without it signs the very bytes earlier versions signed.
  const canonical = canonicalJson({ messageId, conversationId, sender, acknowledger: { userId: acknowledger.userId, deviceId: acknowledger.deviceId }, acknowledgedAt, ...(coveringFor ? { coveringFor } : {}) });
  return new TextEncoder().encode(ACKNOWLEDGEMENT_DOMAIN + canonical);
}
