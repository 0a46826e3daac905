import { createHash } from 'node:crypto';
import { ConversationIdSchema, type ConversationId, type UserId } from '../../../shared/ids';

/** The 1:1 conversation of two users: the same id on both sides, derived from the two user ids. */
export function directConversationId(a: UserId, b: UserId): ConversationId {
  return derivedConversationId(`rounds-direct:${[a, b].sort().join(':')}`);
}

/** A conversation id every party derives alike from `seed`: SHA-256 as an RFC 9562 UUID (version 8: custom), lower case. */
export function derivedConversationId(seed: string): ConversationId {
  const hex = createHash('sha256').update(seed).digest('hex');
  const variant = ((parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return ConversationIdSchema.parse(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`);
}
