import type { CommandOutput } from '../../../shared/contract';
import type { ConversationId, MessageId } from '../../../shared/ids';
import type { PageCursor, StoredMessage } from '../storage/MessageStore';
import { messageViews, type ViewSource } from './views';

/**
 * `messages.page` and `messages.around`: which stored messages a conversation view loads. A view opened at
 * a search result or at the first unread message pages both ways from there; otherwise from the newest.
 */
export function messagePage(source: ViewSource, conversationId: ConversationId, limit: number, before?: PageCursor, after?: PageCursor): CommandOutput<'messages.page'> {
  const { queries } = source;
  const page = after ? queries.pageAfter(conversationId, limit, after).reverse() : queries.page(conversationId, limit, before);
  return messageViews(source, page);
}

export function messagesAround(source: ViewSource, conversationId: ConversationId, messageId: MessageId | undefined, limit: number): CommandOutput<'messages.around'> {
  const { queries } = source;
  const found = messageId ? queries.message(messageId) : queries.firstUnread(conversationId);
  const anchor = found?.conversationId === conversationId ? found : undefined;
  if (!anchor) return { anchor: null, messages: messageViews(source, queries.page(conversationId, limit)) };
  const cursor = { sentAt: anchor.sentAt, id: anchor.id };
  const newer = queries.pageAfter(conversationId, limit, cursor).reverse();
  const older = queries.page(conversationId, limit, cursor);
  const window: StoredMessage[] = [...newer, anchor, ...older];
  return { anchor: anchor.id, messages: messageViews(source, window) };
}
