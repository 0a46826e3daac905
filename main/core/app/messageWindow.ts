import type { CommandOutput } from '../../../shared/contract';
import type { ConversationId, MessageId } from '../../../shared/ids';
import type { MessagingClient } from '../messaging/MessagingClient';
import type { PageCursor, StoredMessage } from '../storage/MessageStore';
import { messageViews } from './views';

/**
 * `messages.page` and `messages.around`: which stored messages a conversation view loads. A view opened at
 * a search result or at the first unread message pages both ways from there; otherwise from the newest.
 */
export function messagePage(client: MessagingClient, conversationId: ConversationId, limit: number, before?: PageCursor, after?: PageCursor): CommandOutput<'messages.page'> {
  const page = after ? client.messages.pageAfter(conversationId, limit, after).reverse() : client.messages.page(conversationId, limit, before);
  return messageViews(client, page);
}

export function messagesAround(client: MessagingClient, conversationId: ConversationId, messageId: MessageId | undefined, limit: number): CommandOutput<'messages.around'> {
  const found = messageId ? client.messages.byId(messageId) : client.messages.firstUnread(conversationId, client.address.userId);
  const anchor = found?.conversationId === conversationId ? found : undefined;
  if (!anchor) return { anchor: null, messages: messageViews(client, client.messages.page(conversationId, limit)) };
  const cursor = { sentAt: anchor.sentAt, id: anchor.id };
  const newer = client.messages.pageAfter(conversationId, limit, cursor).reverse();
  const older = client.messages.page(conversationId, limit, cursor);
  const window: StoredMessage[] = [...newer, anchor, ...older];
  return { anchor: anchor.id, messages: messageViews(client, window) };
}
