import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { ContactView, ConversationView, MessageView, SessionState, SettingsView, UiEvent } from '../../../shared/contract';
import type { UserId } from '../../../shared/ids';
import type { Connection } from '../connection';
import { useAnnouncement } from '../components/LiveRegion';
import { ReceivingBanner } from '../components/ReceivingBanner';
import type { Receiving } from '../receiving';
import { SignInAgainBanner } from '../components/SignInAgainBanner';
import { askUntilAnswered } from '../askUntilAnswered';
import { useTrustAnnouncements } from '../trustAnnouncements';
import { useAcknowledgementAnnouncements } from '../acknowledgementAnnouncements';
import { useApi } from '../context';
import { explain } from '../errors';
import { formatActivity, formatResultTime, initials } from '../format';
import { Conversation } from '../components/Conversation';
import type { SendDelay } from '../components/MessageItem';
import { useCompactMessages } from '../displayPreferences';
import { ContactPanel, MembersPanel, NewCareTeamDialog, NewConversationDialog, SettingsDialog } from '../components/Dialogs';
import { PresenceBadge, worthShowing } from '../components/PresenceBadge';
import { StatusButton, StatusDialog } from '../components/StatusDialog';
import { PresenceContext, usePresence } from '../presence';
import { ScheduleDialog } from '../components/ScheduleDialog';
import type { RoleDetail, RoleId } from '../../../shared/wire/roles';

type Dialog =
  | { kind: 'newConversation' }
  | { kind: 'newTeam' }
  | { kind: 'settings' }
  | { kind: 'status' }
  | { kind: 'members'; conversationId: string }
  | { kind: 'contact'; userId: UserId }
  | { kind: 'schedule'; detail: RoleDetail };

export type Contacts = ReadonlyMap<string, ContactView>;

/** What the user is told of a message that can never go (the `sendFailed` event's reason). */
const SEND_FAILED_NOTICES: Record<Extract<UiEvent, { type: 'sendFailed' }>['reason'], string> = {
  NOT_A_MEMBER: 'A message could not be sent: you are no longer a member of that care team.',
  ATTACHMENT_CANCELLED: 'The upload was cancelled, so its message was not sent.',
  ROLE_UNCOVERED: 'A message with attachments was not sent: nobody holds that on-call role now and it has no backup. Call the switchboard.',
  ROLE_TOO_MANY_HOLDERS: 'A message with attachments was not sent: more people hold that on-call role now than a message reaches. Message the person you need directly, or call the switchboard.',
  ATTACHMENT_UNAVAILABLE: 'A message with attachments was not sent: the server no longer has one of its files. Attach them to a new message.',
};

/** The relay connection as the header says it. */
const CONNECTION_LABELS: Record<Connection, string> = { online: 'Connected', connecting: 'Connecting…', signInAgain: 'Sign-in needed', offline: 'Offline' };
/** What "Offline" means for the clinician's messages, said to a screen reader (the header's tooltip says it too). */
const OFFLINE_DETAIL = ': messages will be sent when the connection is back';

/** The main window: header, conversation list, the open conversation or search results, and dialogs. */
export function Main({ state, connection, receiving, settings, onSettings }: { state: Extract<SessionState, { phase: 'unlocked' }>; connection: Connection; receiving: Receiving; settings: SettingsView; onSettings: (s: SettingsView) => void }) {
  const api = useApi();
  const self = state.self.userId;
  const [conversations, setConversations] = useState<ConversationView[]>([]);
  const [contacts, setContacts] = useState<Contacts>(new Map());
  const [selected, setSelected] = useState<string | null>(null);
  /** A search result the open conversation was opened at. */
  const [focus, setFocus] = useState<string | undefined>(undefined);
  const [compact, setCompact] = useCompactMessages();
  const [dialog, setDialog] = useState<Dialog | null>(null);
  const [version, setVersion] = useState(0);
  /** Bumped only when a contact's trust may have changed: the identity checks are not redone per message. */
  const [trustVersion, setTrustVersion] = useState(0);
  /** A new workstation on one's own account awaits review: it holds every conversation, so it is asked here, once per trust change. */
  const [ownChanged, setOwnChanged] = useState(false);
  const [query, setQuery] = useState('');
  const [results, setResults] = useState<MessageView[] | null>(null);
  /** A notice above the conversation; `unsent`: the message it says was not sent (an alert, said again for each). */
  const [notice, setNotice] = useState<{ text: string; unsent?: string } | null>(null);
  /** Messages the relay refused for now (a colleague's full queue, this workstation's rate), by id: shown next to each. */
  const [delays, setDelays] = useState<ReadonlyMap<string, SendDelay>>(new Map());
  /**
   * An unread urgent message the core re-raised (or that just arrived) outside the open conversation: where, and which
   * message and reminder it is (each is said again, in the same words).
   */
  const [urgent, setUrgent] = useState<{ conversationId: string; occasion: string } | null>(null);
  const urgentIn = urgent?.conversationId ?? null;
  const selectedRef = useRef<string | null>(null);
  selectedRef.current = selected;

  const loadConversations = useCallback(async () => setConversations(await api.call('conversations.list', {})), [api]);
  const loadContacts = useCallback(async () => {
    const list = await api.call('directory.list', {});
    setContacts(new Map(list.map((c) => [c.userId, c])));
  }, [api]);

  useEffect(() => {
    void loadConversations();
    void loadContacts();
    return api.subscribe((event) => {
      if (event.type === 'message' || event.type === 'conversation' || event.type === 'receipt' || event.type === 'urgency' || event.type === 'identityChanged' || event.type === 'sendBlocked' || event.type === 'sendFailed') {
        void loadConversations();
        setVersion((v) => v + 1);
        if (event.type === 'identityChanged' || event.type === 'sendBlocked' || event.type === 'conversation') setTrustVersion((v) => v + 1);
      }
      if (event.type === 'conversation') void loadContacts();
      if (event.type === 'sendFailed') setNotice({ text: SEND_FAILED_NOTICES[event.reason], unsent: event.messageId });
      if (event.type === 'sendDelayed') {
        const { messageId, reason, userId, retryAt } = event;
        setDelays((old) => new Map(old).set(messageId, { reason, retryAt, ...(userId ? { userId } : {}) }));
      }
      if ((event.type === 'urgentReminder' || (event.type === 'message' && event.urgent)) && event.conversationId !== selectedRef.current) {
        const urgent = { conversationId: event.conversationId, occasion: `${event.messageId} ${event.type === 'urgentReminder' ? event.reminder : 0}` };
        // Pointed at once its conversation is listed: said once, naming it ("from Dr …"), not first "in a conversation"
        // and again when the list has a new conversation's name.
        void loadConversations().catch(() => undefined).finally(() => setUrgent(urgent));
      }
    });
  }, [api, loadConversations, loadContacts]);

  // Only the answer to the latest trust change counts: an older one, come late, may say what is no longer so. A
  // failed check keeps what was known (it must not resume sending everywhere, nor take the banner down) and is asked
  // again: the first one failed, nothing was known, and the banner must not stay hidden until the next trust change.
  useEffect(() => askUntilAnswered(() => api.call('contacts.identities', { userId: self }), (own) => setOwnChanged(own.some((i) => i.changePending !== null))), [api, self, trustVersion]);

  // Search over the whole history, as the user types (debounced).
  useEffect(() => {
    if (!query.trim()) {
      setResults(null);
      return;
    }
    const timer = setTimeout(() => void api.call('messages.search', { query, limit: 100 }).then(setResults).catch(() => setResults([])), 200);
    return () => clearTimeout(timer);
  }, [api, query]);

  // Presence (issue 19): everyone in the user's conversations, read now and every minute (pickers ask for more).
  const people = useMemo(() => [self, ...conversations.flatMap((c) => (c.kind === 'direct' ? (c.peer ? [c.peer] : []) : c.members))], [conversations, self]);
  const presence = usePresence(api, people);

  const current = conversations.find((c) => c.id === selected) ?? null;
  const nameOf = useCallback((userId: string) => (userId === self ? 'You' : contacts.get(userId)?.displayName ?? 'Unknown'), [contacts, self]);
  /** A colleague's name as the app shows it: the directory's, else their direct conversation's title; null without either. */
  const knownName = useCallback((userId: string) => contacts.get(userId)?.displayName ?? conversations.find((c) => c.kind === 'direct' && c.peer === userId)?.title ?? null, [contacts, conversations]);

  const openRole = (roleId: RoleId) => api.call('roles.open', { roleId }).then(({ conversationId }) => openConversation(conversationId)).catch((e: unknown) => setNotice({ text: explain(e) }));
  const openDirect = async (userId: UserId) => {
    const { conversationId } = await api.call('conversations.openDirect', { userId });
    await openConversation(conversationId);
  };
  const openConversation = async (conversationId: string) => {
    await loadConversations();
    setSelected(conversationId);
    setFocus(undefined);
    setDialog(null);
  };

  const me = contacts.get(self);
  /** Where a message is: "with Nurse Bob Okafor" (direct) or "in Ward 4 bed 12" (care team); `direct` words the first. */
  const whereOf = (conversationId: string, direct = 'with') => {
    const c = conversations.find((x) => x.id === conversationId);
    if (!c) return 'in a conversation';
    return c.kind === 'direct' ? `${direct} ${c.title}` : `in ${c.title}`;
  };
  // Opened however (the notice's Open, the conversation list, a search result), the urgent message is no longer
  // elsewhere: its notice, and its alert, must not come back when she moves on to another conversation.
  useEffect(() => {
    if (urgentIn !== null && urgentIn === selected) setUrgent(null);
  }, [urgentIn, selected]);
  /** The urgent message to point at: one outside the conversation on screen. */
  const urgentElsewhere = urgentIn !== null && urgentIn !== selected ? urgentIn : null;
  // Heard even while a dialog makes the page inert (the LiveRegion is outside it); shown below without a live role.
  useAnnouncement('alert', urgentElsewhere && `Urgent message ${whereOf(urgentElsewhere, 'from')}.`, urgent?.occasion);
  // A message that was not sent is something she must hear now: an alert; anything else waits its turn.
  useAnnouncement('alert', notice?.unsent ? notice.text : null, notice?.unsent);
  useAnnouncement('status', notice && !notice.unsent ? notice.text : null);
  const onIdentities = useTrustAnnouncements(ownChanged, knownName);
  useAcknowledgementAnnouncements(whereOf);
  // "Sign-in needed" is left unsaid: the sign-in banner's alert says it, with what it means.
  useAnnouncement('status', connection === 'offline' ? `${CONNECTION_LABELS.offline}${OFFLINE_DETAIL}` : connection === 'signInAgain' ? null : CONNECTION_LABELS[connection]);

  return (
    <PresenceContext.Provider value={presence}>
    <div className="app">
      <header className="topbar">
        <div className="topbar-left">
          <span className="brand-mark small" aria-hidden="true">R</span>
          <span className="brand">Rounds</span>
          {/* Heard through the LiveRegion (useAnnouncement above), also while a dialog makes this page inert. */}
          <span className={`connection ${connection}`} title={connection === 'offline' ? 'Messages you write are kept and sent when the connection is back.' : undefined}>
            <span className="dot" aria-hidden="true" />
            {CONNECTION_LABELS[connection]}{connection === 'offline' && <span className="visually-hidden">{OFFLINE_DETAIL}</span>}
          </span>
        </div>
        <div className="search">
          <input type="search" aria-label="Search" placeholder="Search messages" value={query} onChange={(e) => setQuery(e.target.value)} />
        </div>
        <div className="topbar-right">
          <StatusButton name={state.profile.displayName} presence={presence.of(self)} onOpen={() => { void loadContacts(); setDialog({ kind: 'status' }); }} />
          <button type="button" className="ghost" onClick={() => setDialog({ kind: 'settings' })}>Settings</button>
          <button type="button" className="lock-button" onClick={() => void api.call('session.lock', {})}>Lock now</button>
        </div>
      </header>
      <SignInAgainBanner relayUrl={state.profile.relayUrl} asked={connection === 'signInAgain'} />
      <ReceivingBanner receiving={receiving} />

      <div className="body">
        <nav className="sidebar" aria-label="Conversations">
          <div className="sidebar-actions">
            <button type="button" className="primary" onClick={() => { void loadContacts(); setDialog({ kind: 'newConversation' }); }}>New conversation</button>
            <button type="button" className="secondary" onClick={() => { void loadContacts(); setDialog({ kind: 'newTeam' }); }}>New care team</button>
          </div>
          {conversations.length === 0 ? (
            <p className="empty-list">No conversations yet. Start one with a colleague or create a care team.</p>
          ) : (
            <ul className="conversation-list">
              {conversations.map((c) => (
                <li key={c.id}>
                  <button type="button" className={`conversation-item ${c.id === selected && !results ? 'active' : ''} ${c.unreadUrgent > 0 ? 'urgent' : ''}`} aria-current={c.id === selected ? 'page' : undefined}
                    title={c.title} onClick={() => { setSelected(c.id); setFocus(undefined); setQuery(''); }}>
                    <span className={`avatar ${c.kind === 'careTeam' ? 'team' : c.kind === 'role' ? 'role-avatar' : ''}`} aria-hidden="true">{c.kind === 'careTeam' ? '#' : c.kind === 'role' ? '☎' : initials(c.title)}</span>
                    <span className="conversation-text">
                      <span className="conversation-title">{c.title}</span>
                      <span className="conversation-meta">{c.kind === 'careTeam' ? (c.isMember ? `Care team · ${c.members.length} members` : 'You were removed')
                        : c.kind === 'role' ? 'On-call role'
                        : c.peer && worthShowing(presence.of(c.peer)) ? <PresenceBadge presence={presence.of(c.peer)} /> : 'Direct message'}</span>
                    </span>
                    <span className="conversation-side">
                      <span className="conversation-time">{formatActivity(c.lastActivity)}</span>
                      {c.unreadUrgent > 0 && <span className="badge urgent-badge" aria-label={`${c.unreadUrgent} urgent unread`}>Urgent</span>}
                      {c.unread > 0 && <span className="badge" aria-label={`${c.unread} unread`}>{c.unread}</span>}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          )}
        </nav>

        <main className="content">
          {/* Announced by the LiveRegion, which is heard even while a dialog makes this page inert. */}
          {urgentElsewhere && (
            <div className="notice urgent-notice">
              <span><strong>Urgent message</strong> {whereOf(urgentElsewhere, 'from')}.</span>
              <span>
                <button type="button" className="primary" onClick={() => { setSelected(urgentElsewhere); setFocus(undefined); setQuery(''); setUrgent(null); }}>Open</button>{' '}
                <button type="button" className="ghost" onClick={() => setUrgent(null)}>Later</button>
              </span>
            </div>
          )}
          {settings.passphraseBelowPolicy && (
            <div className="notice" role="alert">
              <span>Your workstation passphrase does not meet your organisation's current rules. Please change it.</span>
              <button type="button" className="primary" onClick={() => setDialog({ kind: 'settings' })}>Change passphrase</button>
            </div>
          )}
          {notice && <div className="notice"><span>{notice.text}</span><button type="button" className="ghost" onClick={() => setNotice(null)}>Dismiss</button></div>}
          {results ? (
            <section className="search-results" aria-label="Search results">
              <h2>{results.length === 0 ? 'No messages match' : `${results.length} message${results.length === 1 ? '' : 's'} found`}</h2>
              <ul>
                {results.map((m) => (
                  <li key={m.id}>
                    <button type="button" className="result" onClick={() => { setSelected(m.conversationId); setFocus(m.id); setQuery(''); }}>
                      <span className="result-head"><strong>{m.senderName}</strong> {whereOf(m.conversationId)} · {formatResultTime(m.sentAt)}</span>
                      <span className="result-body">{m.body}</span>
                    </button>
                  </li>
                ))}
              </ul>
            </section>
          ) : current ? (
            <Conversation key={`${current.id} ${focus ?? ''}`} conversation={current} focus={focus} compact={compact} self={self} nameOf={nameOf} knownName={knownName} version={version} trustVersion={trustVersion} ownChanged={ownChanged} onIdentities={onIdentities} online={connection === 'online'} delays={delays}
              onMembers={() => { void loadContacts(); setDialog({ kind: 'members', conversationId: current.id }); }}
              onContact={(userId) => setDialog({ kind: 'contact', userId })}
              onSchedule={(detail) => { void loadContacts(); setDialog({ kind: 'schedule', detail }); }}
              onError={(e) => setNotice({ text: explain(e) })} onRead={loadConversations} />
          ) : (
            <div className="placeholder">
              <h2>Select a conversation</h2>
              <p>Or start a new one with a colleague, or a care team for a patient.</p>
            </div>
          )}
        </main>
      </div>

      {dialog?.kind === 'newConversation' && <NewConversationDialog contacts={contacts} self={self} onClose={() => setDialog(null)} onPick={(u) => void openDirect(u)} onPickRole={(r) => void openRole(r.id)} />}
      {dialog?.kind === 'newTeam' && <NewCareTeamDialog contacts={contacts} self={self} onClose={() => setDialog(null)} onCreated={(id) => { setDialog(null); setSelected(id); setFocus(undefined); void loadConversations(); }} />}
      {dialog?.kind === 'settings' && <SettingsDialog settings={settings} onSettings={onSettings} compact={compact} onCompact={setCompact} onClose={() => setDialog(null)} compliance={me?.role === 'compliance'} username={state.profile.username} />}
      {dialog?.kind === 'members' && current && <MembersPanel conversation={current} contacts={contacts} self={self} onClose={() => setDialog(null)} onChanged={() => void loadConversations()} onContact={(u) => setDialog({ kind: 'contact', userId: u })} />}
      {dialog?.kind === 'status' && <StatusDialog current={presence.of(self)} contacts={contacts} self={self} onClose={() => setDialog(null)} onSaved={() => { setDialog(null); presence.refresh(); }} />}
      {dialog?.kind === 'schedule' && <ScheduleDialog detail={dialog.detail} contacts={contacts} onClose={() => setDialog(null)} onChanged={() => setVersion((v) => v + 1)} />}
      {dialog?.kind === 'contact' && <ContactPanel userId={dialog.userId} name={nameOf(dialog.userId)} own={dialog.userId === self} onClose={() => { setDialog(null); setVersion((v) => v + 1); setTrustVersion((v) => v + 1); }} />}
    </div>
    </PresenceContext.Provider>
  );
}
