import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { MessageView } from '../../../shared/contract';
import type { ConversationId, MessageId } from '../../../shared/ids';
import { useApi } from '../context';

interface Draft {
  readonly text: string;
  readonly urgent: boolean;
  readonly replyTo: MessageId | undefined;
}

/**
 * The message box. Enter sends, also while the previous message is still being handed to the core: each
 * message joins a queue that goes out in order, and the box is free for the next one at once. A message the
 * core refuses comes back into the box (with any queued after it), so no text is lost.
 */
export function Composer({ conversationId, disabledReason, replyTo, onCancelReply, onSent, onError }: {
  conversationId: ConversationId;
  disabledReason: string | null;
  replyTo: MessageView | null;
  onCancelReply: () => void;
  onSent: () => void;
  onError: (error: unknown) => void;
}) {
  const api = useApi();
  const [text, setText] = useState('');
  const [urgent, setUrgent] = useState(false);
  const [queued, setQueued] = useState(0);
  const queue = useRef<Draft[]>([]);
  const draining = useRef(false);
  const input = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    if (replyTo) input.current?.focus();
  }, [replyTo]);

  const drain = async () => {
    if (draining.current) return;
    draining.current = true;
    try {
      for (let next = queue.current[0]; next; next = queue.current[0]) {
        try {
          await api.call('messages.send', { conversationId, text: next.text, ...(next.urgent ? { urgent: true } : {}), ...(next.replyTo ? { replyTo: next.replyTo } : {}) });
          queue.current.shift();
          setQueued(queue.current.length);
          onSent();
        } catch (error) {
          const unsent = queue.current.splice(0);
          setQueued(0);
          setText((typed) => [...unsent.map((d) => d.text), typed].filter((t) => t.trim()).join('\n'));
          onError(error);
        }
      }
    } finally {
      draining.current = false;
    }
  };

  const send = () => {
    const body = text.trim();
    if (!body || disabledReason) return;
    queue.current.push({ text: body, urgent, replyTo: replyTo?.id });
    setQueued(queue.current.length);
    setText('');
    setUrgent(false);
    if (replyTo) onCancelReply();
    input.current?.focus();
    void drain();
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
          <span>Replying to <strong>{replyTo.senderName}</strong>: {replyTo.body.slice(0, 80)}</span>
          <button type="button" className="link small" onClick={onCancelReply}>Cancel reply</button>
        </div>
      )}
      {disabledReason && <p className="composer-blocked" id="composer-reason" role="status">{disabledReason}</p>}
      <div className="composer-row">
        <textarea ref={input} aria-label="Message" placeholder={disabledReason ? '' : 'Write a message (Enter to send, Shift+Enter for a new line)'} rows={1} value={text}
          onChange={(e) => setText(e.target.value)} onKeyDown={onKeyDown} disabled={disabledReason !== null} aria-describedby={disabledReason ? 'composer-reason' : undefined} />
        <button type="button" className={`urgent-toggle ${urgent ? 'on' : ''}`} aria-pressed={urgent} onClick={() => setUrgent(!urgent)} disabled={disabledReason !== null}>Urgent</button>
        <button type="button" className="primary send" onClick={send} disabled={disabledReason !== null || text.trim().length === 0}>Send</button>
      </div>
      {queued > 1 && <p className="hint" role="status">{queued} messages on their way…</p>}
    </div>
  );
}
