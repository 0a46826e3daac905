import { useCallback, useEffect, useRef, useState } from 'react';
import type { MessageView } from '../../../shared/contract';
import type { ConversationId } from '../../../shared/ids';
import { useApi } from '../context';

export const PAGE = 50;

/** The message a conversation opened at: a search result (`found`) or the first unread one (`unread`). */
export interface Anchor {
  readonly id: string;
  readonly kind: 'found' | 'unread';
}

/**
 * The loaded part of one conversation's history. It opens around `focus` (a search result), else around
 * the first unread message, else at the newest; then pages older messages in as the user scrolls up and,
 * when it did not open at the newest, newer ones as they scroll down.
 */
export function useMessageWindow(conversationId: ConversationId, focus: string | undefined, version: number) {
  const api = useApi();
  const [messages, setMessages] = useState<MessageView[]>([]);
  const [anchor, setAnchor] = useState<Anchor | null>(null);
  const [ready, setReady] = useState(false);
  const [olderComplete, setOlderComplete] = useState(false);
  const [atNewest, setAtNewest] = useState(true);
  const loaded = useRef<MessageView[]>([]);
  loaded.current = messages;

  useEffect(() => {
    let cancelled = false;
    void api.call('messages.around', { conversationId, limit: PAGE, ...(focus ? { messageId: focus as never } : {}) }).then(({ anchor: id, messages: around }) => {
      if (cancelled) return;
      const index = id ? around.findIndex((m) => m.id === id) : -1;
      // Newest first: what is before the anchor's index is newer than it.
      setMessages(merge([], around));
      setAnchor(id ? { id, kind: focus ? 'found' : 'unread' } : null);
      setAtNewest(id === null || index < PAGE);
      setOlderComplete(id === null ? around.length < PAGE : around.length - index - 1 < PAGE);
      setReady(true);
    });
    return () => { cancelled = true; };
  }, [api, conversationId, focus]);

  const mergeNewest = useCallback(async () => {
    let batch = await api.call('messages.page', { conversationId, limit: PAGE });
    // Many new messages at once (after a reconnect): page back until they meet what is already shown,
    // so no message is left out between the two.
    const known = new Set(loaded.current.map((m) => m.id));
    let incoming = batch;
    for (let pages = 0; known.size > 0 && batch.length === PAGE && !batch.some((m) => known.has(m.id)) && pages < 40; pages++) {
      const oldest = batch.at(-1);
      if (!oldest) break;
      batch = await api.call('messages.page', { conversationId, limit: PAGE, before: { sentAt: oldest.sentAt, id: oldest.id } });
      incoming = [...incoming, ...batch];
    }
    setMessages((old) => merge(old, incoming));
  }, [api, conversationId]);

  // Something happened (a message, a receipt): the newest page again, when that is where the view is.
  // Opened further back, the newer messages come in as the user scrolls down to them.
  useEffect(() => {
    if (ready && atNewest) void mergeNewest();
  }, [ready, atNewest, mergeNewest, version]);

  const loadOlder = useCallback(async () => {
    const oldest = loaded.current[0];
    if (!oldest || olderComplete) return;
    const older = await api.call('messages.page', { conversationId, limit: PAGE, before: { sentAt: oldest.sentAt, id: oldest.id } });
    if (older.length < PAGE) setOlderComplete(true);
    setMessages((old) => merge(old, older));
  }, [api, conversationId, olderComplete]);

  const loadNewer = useCallback(async () => {
    const newest = loaded.current.at(-1);
    if (!newest || atNewest) return;
    const newer = await api.call('messages.page', { conversationId, limit: PAGE, after: { sentAt: newest.sentAt, id: newest.id } });
    if (newer.length < PAGE) setAtNewest(true);
    setMessages((old) => merge(old, newer));
  }, [api, atNewest, conversationId]);

  /** After sending from a view opened further back: the newest page replaces what was loaded. */
  const showNewest = useCallback(async () => {
    if (atNewest) return mergeNewest();
    const newest = await api.call('messages.page', { conversationId, limit: PAGE });
    setMessages(merge([], newest));
    setOlderComplete(newest.length < PAGE);
    setAtNewest(true);
  }, [api, atNewest, conversationId, mergeNewest]);

  return { messages, anchor, ready, olderComplete, atNewest, loadOlder, loadNewer, showNewest };
}

/** Messages by id (a newer copy wins), oldest first in the order the core pages them: time, then id. */
function merge(old: readonly MessageView[], incoming: readonly MessageView[]): MessageView[] {
  const byId = new Map(old.map((m) => [m.id, m]));
  for (const m of incoming) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => a.sentAt - b.sentAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
