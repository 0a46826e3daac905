import type { ConversationView } from '../../../shared/contract';
import type { ConversationId, MessageId, UserId } from '../../../shared/ids';
import type { ConversationStore } from '../storage/ConversationStore';
import type { MessageStore, PageCursor, StoredMessage } from '../storage/MessageStore';
import type { OutboxStore } from '../storage/OutboxStore';
import type { HeldSendStore } from '../storage/HeldSendStore';

/**
 * What the screens read about one profile's conversations, and nothing they could change: views
 * (`app/views.ts`) and notifications read through this, never through the stores themselves.
 */
export class ClientQueries {
  constructor(
    private readonly self: UserId,
    private readonly messages: MessageStore,
    private readonly conversations: ConversationStore,
    private readonly outbox: OutboxStore,
    private readonly held: HeldSendStore,
  ) {}

  conversationList(): ConversationView[] {
    return this.conversations.list(this.self);
  }

  page(conversationId: ConversationId, limit: number, before?: PageCursor): StoredMessage[] {
    return this.messages.page(conversationId, limit, before);
  }

  /** Oldest first: the messages just after `after`. */
  pageAfter(conversationId: ConversationId, limit: number, after: PageCursor): StoredMessage[] {
    return this.messages.pageAfter(conversationId, limit, after);
  }

  /** The oldest message from someone else this user has not read (where "new messages" starts). */
  firstUnread(conversationId: ConversationId): StoredMessage | undefined {
    return this.messages.firstUnread(conversationId, this.self);
  }

  search(query: string, limit?: number): StoredMessage[] {
    return this.messages.search(query, limit);
  }

  message(id: MessageId): StoredMessage | undefined {
    return this.messages.byId(id);
  }

  /** A conversation's title and kind (the peer's name for a 1:1 conversation). */
  conversationTitle(id: ConversationId): { kind: 'direct' | 'careTeam' | 'role'; title: string } | undefined {
    return this.conversations.title(id);
  }

  /** A contact's name as the directory gave it. */
  displayName(userId: UserId): string | undefined {
    return this.conversations.displayName(userId);
  }

  /** Whom a conversation's messages go to today: the other members of a care team, or the peer. */
  recipients(conversationId: ConversationId): readonly UserId[] {
    const team = this.conversations.careTeam(conversationId);
    const peer = this.conversations.peer(conversationId);
    return team ? team.members.filter((m) => m !== this.self) : peer ? [peer] : [];
  }

  /** Who has confirmed delivery, and who has read it. */
  receipts(messageId: MessageId): { delivered: string[]; read: string[] } {
    return this.messages.receipts(messageId);
  }

  /**
   * Which of these messages have not gone yet: waiting in the outbox, or held until their attachments are up and
   * the message is released (a message whose files are up is not sent while its release waits for the relay).
   */
  pending(messageIds: readonly MessageId[]): Set<MessageId> {
    return new Set([...this.outbox.holding(messageIds), ...this.held.holding(messageIds)]);
  }

  /** Messages still waiting to be accepted by the relay. */
  pendingCount(): number {
    return this.outbox.count();
  }
}
