import type { ConversationId, UserId } from '../../../shared/ids';
import type { RoleId } from '../../../shared/wire/roles';
import { derivedConversationId } from './directConversation';

/**
 * The conversation of one clinician with one on-call role: the same id for the initiator and every holder,
 * derived from the two (a holder files a reply, and the next holder a later message, in the same one).
 */
export function roleConversationId(initiator: UserId, roleId: RoleId): ConversationId {
  return derivedConversationId(`rounds-role:${initiator}:${roleId}`);
}
