import { UrgencyDetails, UrgentLabel } from './UrgencyParts';
import { useEffect, useState } from 'react';
import type { MessageView } from '../../../shared/contract';
import { assertNever } from '../../../shared/exhaustive';
import { formatDay, formatTime } from '../format';
import { MessageAttachments, messageSummary, type AttachmentActions } from '../attachments/MessageAttachments';
import type { ProgressById } from '../attachments/useAttachmentProgress';
import { CoverageLine } from './CoverageLine';

/** Why the relay refused a message for now (the core's `sendDelayed` event); the core tries again by itself. */
export interface SendDelay {
  readonly reason: 'RECIPIENT_QUEUE_FULL' | 'SENDER_SHARE_FULL' | 'RECIPIENT_NOT_ENROLLED' | 'RATE_LIMITED' | 'RELAY_STORAGE_FULL' | 'RELAY_UNAVAILABLE';
  readonly userId?: string;
  readonly retryAt: number;
}

/** The sentence shown next to a message that waits for the relay. */
export function delayText(delay: SendDelay, nameOf: (userId: string) => string): string {
  const whose = delay.userId ? nameOf(delay.userId) : 'a recipient';
  switch (delay.reason) {
    case 'RECIPIENT_QUEUE_FULL': return `Not delivered yet: ${delay.userId ? `${whose}’s` : 'a recipient’s'} queue on the relay is full until they come online. Rounds keeps trying.`;
    case 'SENDER_SHARE_FULL': return `Not delivered yet: the relay already holds as many of your messages for ${whose} as it keeps from one sender, until they come online. Rounds keeps trying.`;
    case 'RECIPIENT_NOT_ENROLLED': return `Not delivered yet: ${whose} has not set up Rounds on a workstation yet. It goes as soon as they do; Rounds keeps trying.`;
    case 'RATE_LIMITED': return `Not sent yet: the relay is limiting how fast this workstation sends. Rounds tries again at ${formatTime(delay.retryAt)}.`;
    case 'RELAY_UNAVAILABLE': return `Not sent yet: the Rounds server is briefly unavailable. Rounds tries again at ${formatTime(delay.retryAt)}.`;
    case 'RELAY_STORAGE_FULL': return `Not sent yet: the Rounds server is short of disk space; tell IT if this lasts. Rounds tries again at ${formatTime(delay.retryAt)}.`;
    default: return assertNever(delay.reason, 'send delay');
  }
}

/** Why an outgoing message waits before it goes: a new workstation on one's own account, or a colleague's new safety number. */
export type Hold = 'ownWorkstation' | 'safetyNumber';

const HELD_LABEL: Record<Hold, string> = {
  ownWorkstation: 'Held until the new workstation on your account is reviewed',
  safetyNumber: 'Held until the safety number is reviewed',
};

const STATE_LABEL: Record<MessageView['state'], string> = {
  pending: 'Sending…',
  sent: 'Sent',
  delivered: 'Delivered',
  read: 'Read',
  failed: 'Not sent',
  received: '',
};

/** A message still sending after this long, while online, gets a "Retry": before that it is just on its way. */
export const RETRY_AFTER_MS = 15_000;

/** Whether a pending message has waited long enough to offer "Retry"; turns true by itself when it has. */
function useOverdue(message: MessageView): boolean {
  const waiting = message.state === 'pending';
  const due = message.sentAt + RETRY_AFTER_MS;
  const [overdue, setOverdue] = useState(() => waiting && Date.now() >= due);
  useEffect(() => {
    if (!waiting) return setOverdue(false);
    const left = due - Date.now();
    if (left <= 0) return setOverdue(true);
    const timer = setTimeout(() => setOverdue(true), left);
    return () => clearTimeout(timer);
  }, [waiting, due]);
  return overdue;
}

export interface MessageLayout {
  /** First of a run of one sender's messages: the name is shown (care teams, and incoming direct messages). */
  readonly showSender: boolean;
  /** Its delivery state is shown: the last of the run, or one whose state differs from the run's last. */
  readonly showState: boolean;
  readonly continued: boolean;
  readonly highlight: boolean;
  readonly compact: boolean;
}

export function Message({ message, quoted, layout, onReply, onRetry, online, held, delay, nameOf, attachments }: {
  message: MessageView; quoted: MessageView | undefined; layout: MessageLayout; onReply: () => void; onRetry: () => void;
  online: boolean; held: Hold | null; delay: SendDelay | undefined; nameOf: (userId: string) => string;
  attachments: { progress: ProgressById; actions: AttachmentActions };
}) {
  const waiting = message.state === 'pending';
  const overdue = useOverdue(message);
  const state = waiting && held ? HELD_LABEL[held] : waiting && !online ? 'Waiting for connection' : STATE_LABEL[message.state];
  const retry = message.state === 'failed' || (waiting && online && !held && overdue);
  const showState = message.outgoing && (layout.showState || waiting || message.state === 'failed');
  // The message a search opened at may be far from its day's separator: it carries its day.
  const when = layout.highlight ? `${formatDay(message.sentAt)}, ${formatTime(message.sentAt)}` : formatTime(message.sentAt);
  const metaText = [when, showState ? state : '', retry ? 'Retry' : ''].filter(Boolean).join('  ');
  const classes = ['message', message.outgoing ? 'outgoing' : 'incoming', message.urgent ? 'urgent' : '', layout.continued ? 'continued' : '', layout.highlight ? 'found' : ''];
  return (
    <article className={classes.filter(Boolean).join(' ')} aria-label={`${message.senderName}, ${formatTime(message.sentAt)}${message.urgent ? ', urgent' : ''}`} aria-current={layout.highlight ? 'true' : undefined}>
      <div className="bubble">
        {layout.compact ? <span className="sender">{layout.showSender ? message.senderName : ''}</span> : layout.showSender && <div className="sender">{message.senderName}</div>}
        <CoverageLine coverage={message.coverage} nameOf={nameOf} source={message} />
        <div className="content-line">
          {message.replyTo && <blockquote className="quote">{quoted ? <><strong>{quoted.senderName}</strong> {messageSummary(quoted, 140)}</> : 'Earlier message'}</blockquote>}
          <UrgentLabel message={message} />
          <MessageAttachments messageId={message.id} attachments={message.attachments} progress={attachments.progress} actions={attachments.actions} />
          {/* The spacer keeps room at the end of the last line for the time and state, drawn over it (as chat apps do). */}
          <p className="message-body">{message.body}<span className="meta-spacer" aria-hidden="true" data-meta={metaText} /></p>
        </div>
        <UrgencyDetails message={message} />
        <span className="meta">
          <time dateTime={new Date(message.sentAt).toISOString()}>{when}</time>
          {showState && <span className={`state state-${waiting && held ? 'held' : message.state}`}>{state}</span>}
          {retry && <button type="button" className="link small" onClick={onRetry}>Retry</button>}
        </span>
        <button type="button" className="link small reply" onClick={onReply} aria-label={`Reply to ${message.senderName}`}>Reply</button>
        {delay && !held && <p className="send-delay" role="status">{delayText(delay, nameOf)}</p>}
      </div>
    </article>
  );
}
