import { useEffect, useRef, useState, type ClipboardEvent, type KeyboardEvent } from 'react';
import type { MessageView } from '../../../shared/contract';
import type { StagingId } from '../../../shared/attachmentContract';
import type { ConversationId, MessageId, UserId } from '../../../shared/ids';
import type { LadderChoice, UrgentOptions } from '../../../shared/urgency';
import type { RoleId } from '../../../shared/wire/roles';
import { LIMITS } from '../../../shared/limits';
import { CallError } from '../api';
import { useApi } from '../context';
import { Icon } from '../attachments/Icon';
import { photosStaged, StagedAttachments } from '../attachments/StagedAttachments';
import type { StagedFiles } from '../attachments/useStagedFiles';
import { messageSummary } from '../attachments/MessageAttachments';
import { ladderChoice, NO_URGENT_DRAFT, UrgentFields, type UrgentDraft } from './UrgentComposerFields';

interface Draft {
  readonly key: number;
  readonly text: string;
  readonly urgent: boolean;
  readonly replyTo: MessageId | undefined;
  /** Files staged with it (they stay under the box if it is refused, to send again). */
  readonly attachments?: StagingId[];
  /** Urgent (issue 19): the reason from the organisation's list, and the escalation steps chosen. */
  readonly urgentReason?: string;
  readonly escalation?: LadderChoice | undefined;
}

/**
 * The message box. Enter hands the message to the core at once, also while earlier ones are still on
 * their way: the core puts each into its outbox, in the encrypted profile, in the order they were entered
 * (it stores a message before it answers anything else), so a lock right after Enter loses nothing, and
 * the box is free for the next one. A message the core refuses is listed under the box on its own, with its
 * urgent flag, to put back or discard: never merged into other text, never dropped silently.
 * Photos and files are attached with the button, by dropping them on the conversation or by pasting; they
 * go with the next message (which may then have no text), once each is staged in the core.
 */
export function Composer({ conversationId, peer = null, roleId = null, disabledReason, replyTo, staging, onCancelReply, onSent, onError }: {
  conversationId: ConversationId;
  /** The other person of a 1:1 conversation (an urgent message to them may escalate); null otherwise. */
  peer?: UserId | null;
  /** The on-call role of a conversation with one (an urgent message to it escalates too); null otherwise. */
  roleId?: RoleId | null;
  disabledReason: string | null;
  replyTo: MessageView | null;
  staging: StagedFiles;
  onCancelReply: () => void;
  onSent: () => void;
  onError: (error: unknown) => void;
}) {
  const api = useApi();
  const [text, setText] = useState('');
  const [urgent, setUrgent] = useState(false);
  const [urgentDraft, setUrgentDraft] = useState<UrgentDraft>(NO_URGENT_DRAFT);
  const [urgentOptions, setUrgentOptions] = useState<UrgentOptions | null>(null);
  const [inFlight, setInFlight] = useState(0);
  const [refused, setRefused] = useState<Draft[]>([]);
  const nextKey = useRef(0);
  const mounted = useRef(true);
  const input = useRef<HTMLTextAreaElement>(null);
  const picker = useRef<HTMLInputElement>(null);

  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  useEffect(() => {
    if (replyTo) input.current?.focus();
  }, [replyTo]);

  // The organisation's reasons and escalation times, read when Urgent is first switched on.
  useEffect(() => {
    if (urgent && !urgentOptions) void api.call('urgent.options', {}).then(setUrgentOptions).catch(onError);
  }, [api, urgent, urgentOptions, onError]);
  const needsReason = urgent && urgentDraft.reason === '';

  const submit = async (draft: Draft) => {
    setInFlight((n) => n + 1);
    try {
      await api.call('messages.send', {
        conversationId, text: draft.text, ...(draft.urgent ? { urgent: true, urgentReason: draft.urgentReason, ...(draft.escalation ? { escalation: draft.escalation } : {}) } : {}), ...(draft.replyTo ? { replyTo: draft.replyTo } : {}),
        ...(draft.attachments ? { attachments: draft.attachments } : {}),
      });
      if (draft.attachments) staging.sent();
      if (mounted.current) onSent();
    } catch (error) {
      // Gone (locked, switched away): nothing to put back on a screen that no longer shows it.
      if (!mounted.current) return;
      if (draft.text) setRefused((list) => [...list, draft]);
      onError(error);
    } finally {
      if (mounted.current) setInFlight((n) => n - 1);
    }
  };

  const files = staging.files.length > 0;
  /** With files: only once every one is staged (and not while the previous message with files is being handed over). */
  const filesReady = !files || (staging.readyIds !== null && !sendingFiles(inFlight, staging));
  const send = () => {
    const body = text.trim();
    if ((!body && !files) || !filesReady || disabledReason || needsReason) return;
    if (body.length > LIMITS.maxTextLength) {
      onError(new CallError({ code: 'INVALID_INPUT', message: 'message too long', issues: [`a message can be at most ${LIMITS.maxTextLength.toLocaleString()} characters; this one has ${body.length.toLocaleString()}`] }));
      return;
    }
    const escalation = urgent && urgentOptions ? ladderChoice(urgentDraft, urgentOptions.escalationMinutes) : undefined;
    const draft: Draft = {
      key: nextKey.current++, text: body, urgent, replyTo: replyTo?.id, ...(urgent ? { urgentReason: urgentDraft.reason, escalation } : {}),
      ...(files && staging.readyIds ? { attachments: staging.readyIds } : {}),
    };
    setText('');
    setUrgent(false);
    setUrgentDraft(NO_URGENT_DRAFT);
    if (replyTo) onCancelReply();
    input.current?.focus();
    void submit(draft);
  };

  /** Puts a refused message back into the box (only an empty box: typed text is never overwritten). */
  const putBack = (draft: Draft) => {
    setRefused((list) => list.filter((d) => d.key !== draft.key));
    setText(draft.text);
    setUrgent(draft.urgent);
    setUrgentDraft(draft.urgent ? { reason: draft.urgentReason ?? '', ladder: [] } : NO_URGENT_DRAFT);
    input.current?.focus();
  };

  /** A pasted screenshot or copied file is attached; pasted text is just text. */
  const onPaste = (e: ClipboardEvent<HTMLTextAreaElement>) => {
    if (e.clipboardData.files.length === 0 || disabledReason) return;
    e.preventDefault();
    staging.add(e.clipboardData.files);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    }
  };

  return (
    <div className="composer">
      {replyTo && (
        <div className="replying">
          <span>Replying to <strong>{replyTo.senderName}</strong>: {messageSummary(replyTo, 80)}</span>
          <button type="button" className="link small" onClick={onCancelReply}>Cancel reply</button>
        </div>
      )}
      {/* No live role: what pauses sending is said where it happens (the trust banners' alerts, said by the main screen). */}
      {disabledReason && <p className="composer-blocked" id="composer-reason">{disabledReason}</p>}
      <StagedAttachments files={staging.files} onRemove={staging.remove} onRetry={staging.retry} />
      <div className="composer-row">
        <button type="button" className="secondary attach" onClick={() => picker.current?.click()} disabled={disabledReason !== null || staging.full}
          aria-label="Attach a photo or file" title={staging.full ? 'A message can carry at most 10 files' : 'Attach a photo or file (or drop or paste it here)'}>
          <Icon name="attach" size={20} />
        </button>
        <input ref={picker} type="file" multiple hidden tabIndex={-1} aria-hidden="true"
          onChange={(e) => { if (e.target.files) staging.add(e.target.files); e.target.value = ''; }} />
        <textarea ref={input} aria-label="Message" placeholder={disabledReason ? '' : files ? 'Add a message (optional)' : 'Write a message (Enter to send, Shift+Enter for a new line)'} rows={1} value={text}
          onChange={(e) => setText(e.target.value)} onKeyDown={onKeyDown} onPaste={onPaste} disabled={disabledReason !== null}
          aria-describedby={[disabledReason ? 'composer-reason' : '', photosStaged(staging) ? 'privacy-note' : ''].filter(Boolean).join(' ') || undefined} />
        <button type="button" className={`urgent-toggle ${urgent ? 'on' : ''}`} aria-pressed={urgent} onClick={() => setUrgent(!urgent)} disabled={disabledReason !== null}>Urgent</button>
        <button type="button" className="primary send" onClick={send} disabled={disabledReason !== null || !filesReady || (text.trim().length === 0 && !files) || needsReason} aria-describedby={needsReason ? 'urgent-needs-reason' : undefined}>Send</button>
      </div>
      {urgent && <UrgentFields peer={peer} roleId={roleId} draft={urgentDraft} onChange={setUrgentDraft} options={urgentOptions} />}
      {needsReason && <p className="hint" id="urgent-needs-reason">An urgent message needs a reason before it can be sent.</p>}
      {inFlight > 1 && <p className="hint" role="status">{inFlight} messages on their way…</p>}
      {refused.length > 0 && (
        <ul className="refused" aria-label="Messages not sent">
          {refused.map((draft) => (
            <li key={draft.key}>
              <span><strong>Not sent{draft.urgent ? ' (urgent)' : ''}:</strong> {draft.text.length > 80 ? `${draft.text.slice(0, 80)}…` : draft.text}</span>
              <button type="button" className="link small" onClick={() => putBack(draft)} disabled={text.trim().length > 0} title={text.trim() ? 'Send or clear what is in the box first' : undefined}>Put back in the box</button>
              <button type="button" className="link small" onClick={() => setRefused((list) => list.filter((d) => d.key !== draft.key))}>Discard</button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** Staged files stay listed until the core took the message that carries them: no second Send meanwhile. */
function sendingFiles(inFlight: number, staging: StagedFiles): boolean {
  return inFlight > 0 && staging.files.length > 0;
}
