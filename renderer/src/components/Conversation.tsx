import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { ConversationView, MessageView } from '../../../shared/contract';
import type { UserId } from '../../../shared/ids';
import { useConversationAttachments } from '../attachments/useConversationAttachments';
import { askUntilAnswered } from '../askUntilAnswered';
import { useApi } from '../context';
import { dayKey, formatDay } from '../format';
import { Composer } from './Composer';
import { Message, type Hold, type SendDelay } from './MessageItem';
import { useMessageWindow, type Anchor } from './useMessageWindow';
import { PeerStatus, TeamStatuses } from './PeerStatus';
import { HandOverLine, RoleHeader } from './RoleParts';
import { TrustBanner } from './TrustBanner';
import { identityChange, type IdentityChange } from '../trustAnnouncements';
import type { RoleDetail } from '../../../shared/wire/roles';

/** Consecutive messages of one sender within this time form a run: one name, one delivery state. */
const RUN_MS = 5 * 60_000;

type Row =
  | { kind: 'day'; key: string; at: number }
  | { kind: 'unread'; key: string }
  | { kind: 'handover'; key: string; message: MessageView }
  | { kind: 'message'; key: string; message: MessageView; first: boolean; showState: boolean };

/**
 * The rows of the history: day separators, the "New messages" line above the first unread message, and
 * messages grouped into runs of one sender (the name on the first, the delivery state on the last, and on
 * any other whose state differs from it).
 */
function buildRows(messages: readonly MessageView[], anchor: Anchor | null): Row[] {
  const out: Row[] = [];
  let lastDay = '';
  messages.forEach((m, i) => {
    const key = dayKey(m.sentAt);
    const unreadStartsHere = anchor?.kind === 'unread' && anchor.id === m.id;
    if (key !== lastDay) out.push({ kind: 'day', key: `day-${key}`, at: m.sentAt });
    if (unreadStartsHere) out.push({ kind: 'unread', key: 'unread' });
    // A message to an on-call role that reached new holders (issue 19): the hand-over, above it.
    if (m.roleDelivery && (m.roleDelivery.handedOver || m.roleDelivery.via === 'backup')) out.push({ kind: 'handover', key: `handover-${m.id}`, message: m });
    const first = key !== lastDay || !sameRun(messages[i - 1], m) || unreadStartsHere;
    lastDay = key;
    // The run's last message: the state is shown there, and on any before it whose state differs.
    let last = m;
    for (let j = i + 1; j < messages.length && sameRun(messages[j - 1], messages[j]) && dayKey(messages[j]?.sentAt ?? 0) === key; j++) last = messages[j] ?? last;
    out.push({ kind: 'message', key: m.id, message: m, first, showState: last === m || last.state !== m.state });
  });
  return out;
}

function sameRun(a: MessageView | undefined, b: MessageView | undefined): boolean {
  return a !== undefined && b !== undefined && a.sender.userId === b.sender.userId && b.sentAt - a.sentAt < RUN_MS;
}

/**
 * One conversation: its messages (virtualised, paged from the core as the user scrolls, with day
 * separators, runs of one sender, delivery state, reply-to and urgent marking), opened at a search result
 * or at the first unread message when there is one; the identity-change banner and the composer.
 */
export function Conversation({ conversation, focus, compact, self, nameOf, knownName, version, trustVersion, ownChanged, onIdentities, online, delays, onMembers, onContact, onSchedule, onError, onRead }: {
  conversation: ConversationView;
  /** A search result to open at (highlighted), instead of the first unread or the newest message. */
  focus: string | undefined;
  compact: boolean;
  delays: ReadonlyMap<string, SendDelay>;
  onRead: () => void;
  self: UserId;
  nameOf: (userId: string) => string;
  /** A colleague's name as the app shows it, or null for one it has no name for (said so, not "Unknown"). */
  knownName: (userId: string) => string | null;
  version: number;
  trustVersion: number;
  /** A new workstation on one's own account awaits review (Main asks once per trust change, not per conversation). */
  ownChanged: boolean;
  /** Told the changes awaiting review among the conversation's people, at each answer of their check (Main says them). */
  onIdentities: (changes: readonly IdentityChange[]) => void;
  online: boolean;
  onMembers: () => void;
  onContact: (userId: UserId) => void;
  /** A role conversation, for a scheduler: open the role's schedule. */
  onSchedule?: (detail: RoleDetail) => void;
  onError: (error: unknown) => void;
}) {
  const api = useApi();
  const history = useMessageWindow(conversation.id, focus, version);
  const { messages, anchor, ready, olderComplete, atNewest, loadOlder, loadNewer, showNewest } = history;
  /** Colleagues' changed identities awaiting review, as each one's last answered check said. */
  const [known, setKnown] = useState<ReadonlyMap<UserId, IdentityChange>>(new Map());
  const [replyTo, setReplyTo] = useState<MessageView | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const stick = useRef(true);

  // Read only when someone can be reading: the window has focus (not merely open behind other windows).
  // Marking read stops urgent reminders and tells the sender, so it must not happen at an empty desk;
  // and only once the history is loaded, so the first unread message was found before it is marked read.
  useEffect(() => {
    if (!ready) return;
    const markIfSeen = () => {
      if (conversation.unread > 0 && document.visibilityState === 'visible' && document.hasFocus()) {
        void api.call('conversations.markRead', { conversationId: conversation.id }).then(onRead);
      }
    };
    markIfSeen();
    window.addEventListener('focus', markIfSeen);
    return () => window.removeEventListener('focus', markIfSeen);
  }, [api, conversation.id, conversation.unread, onRead, version, ready]);

  // Whose identity changed: sending is blocked until the user looks at the new safety number. Her own account
  // too (`ownChanged`): every message also goes to her other workstations, so a new one of hers holds every
  // conversation. Checked when the conversation or its people change, or an identity event came: not on every message.
  const peopleKey = (conversation.kind === 'direct' ? [conversation.peer ?? ''] : conversation.members).join(' ');
  // As with her own (Main): only the latest check counts, and a failed one keeps what was known, so that neither
  // resumes sending to someone whose safety number is still to be reviewed; and it is asked again, so that a failed
  // first check does not leave a changed safety number unshown. Each colleague is asked on their own: one whose check
  // fails (and is asked again) holds up nobody else's banner, and the others are not asked again with it.
  const people = useMemo(() => peopleKey.split(' ').filter((u): u is UserId => u !== '' && u !== self).slice(0, 50), [peopleKey, self]);
  const answered = useRef(false);
  useEffect(() => {
    const stops = people.map((userId) => askUntilAnswered(() => api.call('contacts.identities', { userId }), (identities) => {
      answered.current = true;
      const change = identityChange(userId, identities);
      setKnown((old) => {
        if (change ? old.get(userId)?.change === change.change : !old.has(userId)) return old;
        const next = new Map(old);
        if (change) next.set(userId, change);
        else next.delete(userId);
        return next;
      });
    }));
    return () => stops.forEach((stop) => stop());
  }, [api, people, trustVersion]);
  const othersChanged = useMemo(() => people.flatMap((userId) => known.get(userId) ?? []), [people, known]);
  // What the checks found, told to the main screen (which says each change once): from the first answer on.
  useEffect(() => {
    if (answered.current) onIdentities(othersChanged);
  }, [othersChanged, onIdentities]);
  const changed = ownChanged ? [self, ...othersChanged.map((c) => c.userId)] : othersChanged.map((c) => c.userId);

  const rows = useMemo(() => buildRows(messages, anchor), [messages, anchor]);
  const byId = useMemo(() => new Map(messages.map((m) => [m.id, m])), [messages]);

  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: (i) => (rows[i]?.kind === 'message' ? (compact ? 24 : 40) : 36),
    overscan: 12,
    getItemKey: (i) => rows[i]?.key ?? i,
  });

  // Opened at a search result or the first unread message: that message in view, once. Then keep the
  // view at the newest message while the user is there, and keep their place when older ones load.
  const positioned = useRef(false);
  const firstKey = rows.find((r) => r.kind === 'message')?.key;
  const previousFirst = useRef<string | undefined>(undefined);
  useLayoutEffect(() => {
    if (rows.length === 0 || !ready) return;
    if (!positioned.current) {
      positioned.current = true;
      const index = anchor ? rows.findIndex((r) => r.key === (anchor.kind === 'unread' ? 'unread' : anchor.id)) : -1;
      if (index >= 0) {
        stick.current = false;
        virtualizer.scrollToIndex(index, { align: anchor?.kind === 'found' ? 'center' : 'start' });
        previousFirst.current = firstKey;
        return;
      }
    }
    if (stick.current) virtualizer.scrollToIndex(rows.length - 1, { align: 'end' });
    else if (previousFirst.current && firstKey !== previousFirst.current) {
      const index = rows.findIndex((r) => r.key === previousFirst.current);
      if (index > 0) virtualizer.scrollToIndex(index, { align: 'start' });
    }
    previousFirst.current = firstKey;
  }, [rows, firstKey, virtualizer, ready, anchor, compact]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el || !positioned.current) return;
    const nearBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    stick.current = nearBottom && atNewest;
    if (el.scrollTop < 200) loadOlder().catch(onError);
    if (nearBottom && !atNewest) loadNewer().catch(onError);
  };

  const blocked = changed.length > 0;
  const hold: Hold | null = !blocked ? null : ownChanged ? 'ownWorkstation' : 'safetyNumber';
  const readOnly = conversation.kind === 'careTeam' && !conversation.isMember;
  const files = useConversationAttachments(onError, !blocked && !readOnly);

  return (
    <section className={`conversation ${compact ? 'compact' : ''} ${files.dragging ? 'dragging' : ''}`} aria-label={`Conversation: ${conversation.title}`} {...files.dropTarget}>
      {files.dragging && <div className="drop-hint" aria-hidden="true"><p>Drop to attach to your message</p><p className="muted">Location and camera data are removed from photos before sending.</p></div>}
      <header className="conversation-header">
        <div className="conversation-heading">
          <h1 title={conversation.title}>{conversation.title}</h1>
          {conversation.kind === 'role' ? <RoleHeader conversation={conversation} version={version} onSchedule={(detail) => onSchedule?.(detail)} /> : <p className="muted">
            {conversation.kind === 'careTeam'
              ? `${conversation.members.length} members: ${conversation.members.map(nameOf).join(', ')}`
              : 'Direct message · end-to-end encrypted'}
          </p>}
          {conversation.peer && <PeerStatus userId={conversation.peer} nameOf={nameOf} />}
          {conversation.kind === 'careTeam' && <TeamStatuses members={conversation.members} self={self} nameOf={nameOf} />}
        </div>
        <div className="conversation-actions">
          {conversation.kind === 'careTeam'
            ? <button type="button" className="secondary" onClick={onMembers}>Members</button>
            : conversation.peer && <button type="button" className="secondary" onClick={() => conversation.peer && onContact(conversation.peer)}>Safety number</button>}
        </div>
      </header>

      {changed.map((userId) => <TrustBanner key={userId} own={userId === self} name={knownName(userId)} onReview={() => onContact(userId)} />)}

      <div className="messages" ref={scroller} onScroll={onScroll} role="log" aria-label="Conversation history" tabIndex={0}>
        {!olderComplete && messages.length > 0 && <div className="load-more"><button type="button" className="ghost" onClick={() => loadOlder().catch(onError)}>Load earlier messages</button></div>}
        {ready && messages.length === 0 && <p className="empty-conversation">No messages yet. Say hello.</p>}
        <div className="virtual" style={{ height: virtualizer.getTotalSize() }}>
          {virtualizer.getVirtualItems().map((item) => {
            const row = rows[item.index];
            if (!row) return null;
            return (
              <div key={item.key} data-index={item.index} ref={virtualizer.measureElement} className={`row ${row.kind === 'message' && !row.first ? 'continued' : ''}`} style={{ transform: `translateY(${item.start}px)` }}>
                {row.kind === 'day' ? <div className="day-separator" role="separator"><span>{formatDay(row.at)}</span></div>
                  : row.kind === 'unread' ? <div className="day-separator unread-separator" role="separator"><span>New messages</span></div>
                  : row.kind === 'handover' ? (row.message.roleDelivery && <HandOverLine delivery={row.message.roleDelivery} />)
                  : <Message message={row.message} quoted={row.message.replyTo ? byId.get(row.message.replyTo) : undefined}
                      layout={{ showSender: row.first && (conversation.kind !== 'direct' || !row.message.outgoing || compact), showState: row.showState, continued: !row.first, highlight: anchor?.kind === 'found' && anchor.id === row.message.id, compact }}
                      onReply={() => setReplyTo(row.message)} onRetry={() => void api.call('messages.retry', {}).catch(onError)} online={online} held={hold}
                      delay={row.message.state === 'pending' ? delays.get(row.message.id) : undefined} nameOf={nameOf}
                      attachments={{ progress: files.progress, actions: files.actionsFor(row.message.id) }} />}
              </div>
            );
          })}
        </div>
        {!atNewest && <div className="load-more"><button type="button" className="ghost" onClick={() => loadNewer().catch(onError)}>Load newer messages</button> <button type="button" className="ghost" onClick={() => { stick.current = true; showNewest().catch(onError); }}>Jump to newest</button></div>}
      </div>

      <Composer conversationId={conversation.id} peer={conversation.kind === 'direct' ? conversation.peer : null} roleId={conversation.kind === 'role' ? conversation.role?.id ?? null : null} disabledReason={readOnly ? 'You are no longer a member of this care team.' : hold === 'ownWorkstation' ? 'Review your new workstation above before sending.' : hold ? 'Review the changed safety number above before sending.' : null}
        replyTo={replyTo} staging={files.staging} onCancelReply={() => setReplyTo(null)}
        onSent={() => { stick.current = true; showNewest().catch(onError); }} onError={onError} />
      {files.viewer}
    </section>
  );
}
