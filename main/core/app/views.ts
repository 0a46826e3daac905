import type { AttachmentView } from '../../../shared/attachmentContract';
import type { ContactIdentityView, MessageView } from '../../../shared/contract';
import type { DeviceAddress, UserId } from '../../../shared/ids';
import type { ContactIdentityState } from '../crypto/ProtocolCore';
import type { ClientQueries } from '../messaging/ClientQueries';
import type { StoredMessage } from '../storage/MessageStore';
import type { UrgentMessages } from '../messaging/UrgentMessages';

/** Whose views they are, and the read-only queries they are built from (a MessagingClient is one). */
export interface ViewSource {
  readonly address: DeviceAddress;
  readonly queries: ClientQueries;
  /** The messages' attachments (issue 20), by message id. */
  readonly attachments?: { views(messageIds: readonly string[]): Map<string, AttachmentView[]> };
  /** Urgent messages' reasons, acknowledgements and ladders (issue 19). */
  readonly urgent?: Pick<UrgentMessages, 'views'>;
}

/**
 * Message views for the UI: sender names from the contacts kept in the profile, and for our own messages
 * their state: in the outbox, with the relay, delivered to or read by every recipient.
 */
export function messageViews({ address, queries, attachments, urgent }: ViewSource, messages: readonly StoredMessage[]): MessageView[] {
  const files = attachments?.views(messages.map((m) => m.id)) ?? new Map<string, AttachmentView[]>();
  const self = address.userId;
  // The names of this page's senders only (a page has a handful; the directory may have thousands).
  const names = new Map<string, string | undefined>();
  const nameOf = (userId: UserId) => {
    if (!names.has(userId)) names.set(userId, queries.displayName(userId));
    return names.get(userId);
  };
  const pending = queries.pending(messages.filter((m) => m.sender.userId === self).map((m) => m.id));
  const recipientsOf = new Map<string, readonly UserId[]>();
  const recipients = (conversationId: StoredMessage['conversationId']): readonly UserId[] => {
    let list = recipientsOf.get(conversationId);
    if (!list) {
      list = queries.recipients(conversationId);
      recipientsOf.set(conversationId, list);
    }
    return list;
  };
  const urgency = urgent?.views(messages, (userId) => nameOf(userId) ?? 'Unknown colleague');
  return messages.map((m): MessageView => {
    const outgoing = m.sender.userId === self;
    let state: MessageView['state'] = 'received';
    if (outgoing) {
      if (m.sendFailed) state = 'failed';
      // A message whose attachments are still going up waits too (it goes into the outbox after them).
      else if (pending.has(m.id) || files.get(m.id)?.some((a) => a.state === 'uploading' || a.state === 'uploadFailed')) state = 'pending';
      else {
        const receipts = queries.receipts(m.id);
        // Whom it was sent to (recorded with it); for messages from before that was kept, today's members.
        const everyone = m.recipients ?? recipients(m.conversationId);
        const all = (users: readonly string[]) => everyone.length > 0 && everyone.every((u) => users.includes(u));
        state = all(receipts.read) ? 'read' : all(receipts.delivered) ? 'delivered' : 'sent';
      }
    }
    return {
      id: m.id,
      conversationId: m.conversationId,
      sender: m.sender,
      senderName: outgoing ? 'You' : (nameOf(m.sender.userId) ?? 'Unknown sender'),
      outgoing,
      sentAt: m.sentAt,
      receivedAt: m.receivedAt,
      body: m.body,
      replyTo: m.replyTo,
      urgent: m.urgent,
      urgency: urgency?.get(m.id) ?? null,
      state,
      read: outgoing || (m.readAt ?? null) !== null,
      attachments: files.get(m.id) ?? [],
      coverage: m.coverage ?? null,
      roleDelivery: m.roleDelivery ?? null,
    };
  });
}

export function identityViews(states: readonly ContactIdentityState[], scannable: (state: ContactIdentityState) => Uint8Array): ContactIdentityView[] {
  return states.map((s) => ({
    address: s.address,
    verified: s.verified,
    changePending: s.changePending,
    changeDetectedAt: s.changeDetectedAt,
    safetyNumber: s.safetyNumber,
    scannable: Buffer.from(scannable(s)).toString('base64'),
  }));
}
