import { useVirtualizer } from '@tanstack/react-virtual';
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import type { ContactIdentityView, ConversationView, MessageView } from '../../../shared/contract';
import { assertNever } from '../../../shared/exhaustive';
import type { UserId } from '../../../shared/ids';
import { useApi } from '../context';
import { dayKey, formatDay, formatTime } from '../format';

const PAGE = 50;

/** `grouped`: same sender as the message just above, within five minutes (the name is not repeated). */
type Row = { kind: 'day'; key: string; at: number } | { kind: 'message'; key: string; message: MessageView; grouped: boolean };

/** Why the relay refused a message for now (the core's `sendDelayed` event); the core tries again by itself. */
export interface SendDelay {
  readonly reason: 'RECIPIENT_QUEUE_FULL' | 'SENDER_SHARE_FULL' | 'RATE_LIMITED' | 'RELAY_STORAGE_FULL';
  readonly userId?: string;
  readonly retryAt: number;
}

/** The sentence shown next to a message that waits for the relay. */
export function delayText(delay: SendDelay, nameOf: (userId: string) => string): string {
  const whose = delay.userId ? nameOf(delay.userId) : 'a recipient';
  switch (delay.reason) {
    case 'RECIPIENT_QUEUE_FULL': return `Not delivered yet: ${delay.userId ? `${whose}’s` : 'a recipient’s'} queue on the relay is full until they come online. Rounds keeps trying.`;
    case 'SENDER_SHARE_FULL': return `Not delivered yet: the relay already holds as many of your messages for ${whose} as it keeps from one sender, until they come online. Rounds keeps trying.`;
    case 'RATE_LIMITED': return `Not sent yet: the relay is limiting how fast this workstation sends. Rounds tries again at ${formatTime(delay.retryAt)}.`;
    case 'RELAY_STORAGE_FULL': return `Not sent yet: the Rounds server is short of disk space; tell IT if this lasts. Rounds tries again at ${formatTime(delay.retryAt)}.`;
    default: return assertNever(delay.reason, 'send delay');
  }
}

const STATE_LABEL: Record<MessageView['state'], string> = {
  pending: 'Sending…',
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Read',
  failed: 'Not sent',
  received: '',
};

/**
 * One conversation: its messages (virtualised, paged from the core as the user scrolls up, with day
 * separators, sender, time, delivery state, reply-to and urgent marking), the identity-change banner and
 * the composer.
 */
export function Conversation({ conversation, self, nameOf, version, trustVersion, online, delays, onMembers, onContact, onError, onRead }: {
  conversation: ConversationView;
  delays: ReadonlyMap<string, SendDelay>;
  onRead: () => void;
  self: UserId;
  nameOf: (userId: string) => string;
  version: number;
  trustVersion: number;
  online: boolean;
  onMembers: () => void;
  onContact: (userId: UserId) => void;
  onError: (error: unknown) => void;
}) {
  const api = useApi();
  const [messages, setMessages] = useState<MessageView[]>([]);
  const [complete, setComplete] = useState(false);
  const [changed, setChanged] = useState<{ userId: UserId; identities: ContactIdentityView[] }[]>([]);
  const [replyTo, setReplyTo] = useState<MessageView | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const stick = useRef(true);

  const loaded = useRef<MessageView[]>([]);
  loaded.current = messages;
  const mergeNewest = useCallback(async () => {
    let batch = await api.call('messages.page', { conversationId: conversation.id, limit: PAGE });
    if (batch.length < PAGE) setComplete(true);
    // Many new messages at once (after a reconnect): page back until they meet what is already shown,
    // so no message is left out between the two.
    const known = new Set(loaded.current.map((m) => m.id));
    let incoming = batch;
    for (let pages = 0; known.size > 0 && batch.length === PAGE && !batch.some((m) => known.has(m.id)) && pages < 40; pages++) {
      const oldest = batch.at(-1);
      if (!oldest) break;
      batch = await api.call('messages.page', { conversationId: conversation.id, limit: PAGE, before: { sentAt: oldest.sentAt, id: oldest.id } });
      incoming = [...incoming, ...batch];
    }
    setMessages((old) => merge(old, incoming));
  }, [api, conversation.id]);

  // Newest page on open and whenever something happened.
  useEffect(() => {
    void mergeNewest();
  }, [mergeNewest, version]);

  // Read only when someone can be reading: the window has focus (not merely open behind other windows).
  // Marking read stops urgent reminders and tells the sender, so it must not happen at an empty desk.
  useEffect(() => {
    const markIfSeen = () => {
      if (conversation.unread > 0 && document.visibilityState === 'visible' && document.hasFocus()) {
        void api.call('conversations.markRead', { conversationId: conversation.id }).then(onRead);
      }
    };
    markIfSeen();
    window.addEventListener('focus', markIfSeen);
    return () => window.removeEventListener('focus', markIfSeen);
  }, [api, conversation.id, conversation.unread, onRead, version]);

  // Whose identity changed: sending is blocked until the user looks at the new safety number.
  // Checked when the conversation or its people change, or an identity event came: not on every message.
  const peopleKey = (conversation.kind === 'direct' ? [conversation.peer ?? ''] : conversation.members).join(' ');
  useEffect(() => {
    const people = peopleKey.split(' ').filter((u): u is UserId => u !== '' && u !== self).slice(0, 50);
    void Promise.all(people.map(async (userId) => ({ userId, identities: await api.call('contacts.identities', { userId }) })))
      .then((all) => setChanged(all.filter((p) => p.identities.some((i) => i.changePending !== null))))
      .catch(() => setChanged([]));
  }, [api, peopleKey, self, trustVersion]);

  const loadOlder = useCallback(async () => {
    const oldest = messages[0];
    if (!oldest || complete) return;
    const older = await api.call('messages.page', { conversationId: conversation.id, limit: PAGE, before: { sentAt: oldest.sentAt, id: oldest.id } });
    if (older.length < PAGE) setComplete(true);
    setMessages((old) => merge(old, older));
  }, [api, complete, conversation.id, messages]);

  const rows = useMemo(() => {
    const out: Row[] = [];
    let lastDay = '';
    let previous: MessageView | undefined;
    for (const m of messages) {
      const key = dayKey(m.sentAt);
      if (key !== lastDay) {
        out.push({ kind: 'day', key: `day-${key}`, at: m.sentAt });
        previous = undefined;
      }
      lastDay = key;
      const grouped = previous !== undefined && previous.sender.userId === m.sender.userId && m.sentAt - previous.sentAt < 5 * 60_000;
      out.push({ kind: 'message', key: m.id, message: m, grouped });
      previous = m;
    }
    return out;
  }, [messages]);
  const byId = useMemo(() => new Map(messages.map((m) => [m.id, m])), [messages]);

  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: (i) => (rows[i]?.kind === 'day' ? 40 : 76),
    overscan: 12,
    getItemKey: (i) => rows[i]?.key ?? i,
  });

  // Keep the view at the newest message while the user is there; keep their place when older ones load.
  // The oldest message (not a day separator, which moves up with the messages of its day).
  const firstKey = rows.find((r) => r.kind === 'message')?.key;
  const previousFirst = useRef<string | undefined>(undefined);
  const previousCount = useRef(0);
  useLayoutEffect(() => {
    if (rows.length === 0) return;
    if (stick.current) virtualizer.scrollToIndex(rows.length - 1, { align: 'end' });
    else if (previousFirst.current && firstKey !== previousFirst.current) {
      const index = rows.findIndex((r) => r.key === previousFirst.current);
      if (index > 0) virtualizer.scrollToIndex(index, { align: 'start' });
    }
    previousFirst.current = firstKey;
    previousCount.current = rows.length;
  }, [rows, firstKey, virtualizer]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    if (el.scrollTop < 200) void loadOlder();
  };

  const blocked = changed.length > 0;
  const readOnly = conversation.kind === 'careTeam' && !conversation.isMember;

  return (
    <section className="conversation" aria-label={`Conversation: ${conversation.title}`}>
      <header className="conversation-header">
        <div>
          <h1>{conversation.title}</h1>
          <p className="muted">
            {conversation.kind === 'careTeam'
              ? `${conversation.members.length} members: ${conversation.members.map(nameOf).join(', ')}`
              : 'Direct message · end-to-end encrypted'}
          </p>
        </div>
        <div className="conversation-actions">
          {conversation.kind === 'careTeam'
            ? <button type="button" className="secondary" onClick={onMembers}>Members</button>
            : conversation.peer && <button type="button" className="secondary" onClick={() => conversation.peer && onContact(conversation.peer)}>Safety number</button>}
        </div>
      </header>

      {changed.map((p) => (
        <div className="banner warning" role="alert" key={p.userId}>
          <div>
            <strong>{nameOf(p.userId)}’s safety number has changed.</strong>{' '}
            This happens when they reinstall Rounds or add a workstation, but could also mean someone is intercepting messages. Sending is paused until you review it.
          </div>
          <button type="button" className="secondary" onClick={() => onContact(p.userId)}>Review safety number</button>
        </div>
      ))}

      <div className="messages" ref={scroller} onScroll={onScroll} role="log" aria-label="Conversation history" tabIndex={0}>
        {!complete && messages.length > 0 && <div className="load-more"><button type="button" className="ghost" onClick={() => void loadOlder()}>Load earlier messages</button></div>}
        {messages.length === 0 && <p className="empty-conversation">No messages yet. Say hello.</p>}
        <div className="virtual" style={{ height: virtualizer.getTotalSize() }}>
          {virtualizer.getVirtualItems().map((item) => {
            const row = rows[item.index];
            if (!row) return null;
            return (
              <div key={item.key} data-index={item.index} ref={virtualizer.measureElement} className="row" style={{ transform: `translateY(${item.start}px)` }}>
                {row.kind === 'day'
                  ? <div className="day-separator" role="separator"><span>{formatDay(row.at)}</span></div>
                  : <Message message={row.message} quoted={row.message.replyTo ? byId.get(row.message.replyTo) : undefined} showSender={!row.grouped && (conversation.kind === 'careTeam' || !row.message.outgoing)}
                      onReply={() => setReplyTo(row.message)} onRetry={() => void api.call('messages.retry', {}).catch(onError)} online={online} held={blocked}
                      delay={row.message.state === 'pending' ? delays.get(row.message.id) : undefined} nameOf={nameOf} />}
              </div>
            );
          })}
        </div>
      </div>

      <Composer conversationId={conversation.id} disabledReason={readOnly ? 'You are no longer a member of this care team.' : blocked ? 'Review the changed safety number above before sending.' : null}
        replyTo={replyTo} onCancelReply={() => setReplyTo(null)}
        onSent={() => { stick.current = true; setReplyTo(null); void mergeNewest(); }} onError={onError} />
    </section>
  );
}

/** Messages by id (a newer copy wins), oldest first in the order the core pages them: time, then id. */
function merge(old: readonly MessageView[], incoming: readonly MessageView[]): MessageView[] {
  const byId = new Map(old.map((m) => [m.id, m]));
  for (const m of incoming) byId.set(m.id, m);
  return [...byId.values()].sort((a, b) => a.sentAt - b.sentAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function Message({ message, quoted, showSender, onReply, onRetry, online, held, delay, nameOf }: { message: MessageView; quoted: MessageView | undefined; showSender: boolean; onReply: () => void; onRetry: () => void; online: boolean; held: boolean; delay: SendDelay | undefined; nameOf: (userId: string) => string }) {
  const waiting = message.state === 'pending';
  const state = waiting && held ? 'Held until the safety number is reviewed' : waiting && !online ? 'Waiting for connection' : STATE_LABEL[message.state];
  return (
    <article className={`message ${message.outgoing ? 'outgoing' : 'incoming'} ${message.urgent ? 'urgent' : ''}`} aria-label={`${message.senderName}, ${formatTime(message.sentAt)}${message.urgent ? ', urgent' : ''}`}>
      <div className="bubble">
        {showSender && <div className="sender">{message.senderName}</div>}
        {message.urgent && <div className="urgent-label">Urgent</div>}
        {message.replyTo && <blockquote className="quote">{quoted ? <><strong>{quoted.senderName}</strong> {quoted.body.slice(0, 140)}</> : 'Earlier message'}</blockquote>}
        <p className="body">{message.body}</p>
        <div className="meta">
          <time dateTime={new Date(message.sentAt).toISOString()}>{formatTime(message.sentAt)}</time>
          {message.outgoing && <span className={`state state-${waiting && held ? 'held' : message.state}`}>{state}</span>}
          {message.state === 'failed' || (waiting && online && !held)
            ? <button type="button" className="link small" onClick={onRetry}>Retry</button>
            : null}
          <button type="button" className="link small reply" onClick={onReply} aria-label={`Reply to ${message.senderName}`}>Reply</button>
        </div>
        {delay && !held && <p className="send-delay" role="status">{delayText(delay, nameOf)}</p>}
      </div>
    </article>
  );
}

function Composer({ conversationId, disabledReason, replyTo, onCancelReply, onSent, onError }: {
  conversationId: string;
  disabledReason: string | null;
  replyTo: MessageView | null;
  onCancelReply: () => void;
  onSent: () => void;
  onError: (error: unknown) => void;
}) {
  const api = useApi();
  const [text, setText] = useState('');
  const [urgent, setUrgent] = useState(false);
  const [sending, setSending] = useState(false);
  const input = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    if (replyTo) input.current?.focus();
  }, [replyTo]);

  const send = async () => {
    const body = text.trim();
    if (!body || disabledReason || sending) return;
    setSending(true);
    try {
      await api.call('messages.send', { conversationId: conversationId as never, text: body, ...(urgent ? { urgent: true } : {}), ...(replyTo ? { replyTo: replyTo.id } : {}) });
      setText('');
      setUrgent(false);
      onSent();
    } catch (error) {
      onError(error);
    } finally {
      setSending(false);
      input.current?.focus();
    }
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    }
  };

  return (
    <div className="composer">
      {replyTo && (
        <div className="replying">
          <span>Replying to <strong>{replyTo.senderName}</strong>: {replyTo.body.slice(0, 80)}</span>
          <button type="button" className="link small" onClick={onCancelReply}>Cancel reply</button>
        </div>
      )}
      {disabledReason && <p className="composer-blocked" id="composer-reason" role="status">{disabledReason}</p>}
      <div className="composer-row">
        <textarea ref={input} aria-label="Message" placeholder={disabledReason ? '' : 'Write a message (Enter to send, Shift+Enter for a new line)'} rows={2} value={text}
          onChange={(e) => setText(e.target.value)} onKeyDown={onKeyDown} disabled={disabledReason !== null} aria-describedby={disabledReason ? 'composer-reason' : undefined} />
        <button type="button" className={`urgent-toggle ${urgent ? 'on' : ''}`} aria-pressed={urgent} onClick={() => setUrgent(!urgent)} disabled={disabledReason !== null}>Urgent</button>
        <button type="button" className="primary send" onClick={() => void send()} disabled={disabledReason !== null || sending || text.trim().length === 0}>Send</button>
      </div>
    </div>
  );
}
