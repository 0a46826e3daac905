import { useState } from 'react';
import '../urgency.css';
import type { MessageView } from '../../../shared/contract';
import type { MessageUrgency } from '../../../shared/urgency';
import { useApi } from '../context';
import { explain } from '../errors';
import { formatDuration, formatTime } from '../format';
import { useAnnouncement } from './LiveRegion';

/*
 * Urgent messages in the conversation (issue 19): the reason beside the Urgent label, an Acknowledge action
 * distinct from reading, who acknowledged and when, a copy an escalation brought to this user, and the sender's
 * ladder: waiting, escalated to whom at what time, acknowledged by whom.
 */

export const names = (people: readonly { name: string }[]) => (people.length <= 1 ? people[0]?.name ?? 'nobody' : `${people.slice(0, -1).map((p) => p.name).join(', ')} and ${people.at(-1)?.name ?? ''}`);

/** "Dr. Patel (covering for Dr. Lee)": who acknowledged, and for whom when they had it as the colleague covering. */
export const acknowledger = (a: MessageUrgency['acknowledgements'][number]) => (a.coveringFor ? `${a.name} (covering for ${a.coveringFor.name})` : a.name);

export function UrgentLabel({ message }: { message: MessageView }) {
  if (!message.urgent) return null;
  const reason = message.urgency?.reason;
  return <span className="urgent-label">Urgent{reason ? <span className="urgent-reason">: {reason}</span> : null}</span>;
}

/** Everything about an urgent message below its text; nothing for other messages. */
export function UrgencyDetails({ message }: { message: MessageView }) {
  const u = message.urgency;
  if (!message.urgent || !u) return null;
  return (
    <div className="urgency">
      {u.escalatedToMe && (
        <p className="escalated-note" role="note">
          {/* The sender's workstation says so (the rung's copy carries it); this one cannot check it. */}
          <strong>{message.senderName} says this was escalated to you:</strong> not acknowledged by {names(u.escalatedToMe.waitedFor)} within {formatDuration(u.escalatedToMe.afterMs / 60_000)}.
        </p>
      )}
      {u.ladder ? <LadderProgress urgency={u} /> : u.acknowledgements.length > 0 && (
        <ul className="acknowledgements" aria-label="Acknowledgements">
          {u.acknowledgements.map((a) => (
            <li key={a.userId}>{a.reportedBy ? `${a.reportedBy.name} says it was acknowledged` : 'Acknowledged'} by {acknowledger(a)} at {formatTime(a.at)}</li>
          ))}
        </ul>
      )}
      {u.canAcknowledge && <AcknowledgeButton message={message} />}
    </div>
  );
}

function AcknowledgeButton({ message }: { message: MessageView }) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const acknowledge = () => {
    setBusy(true);
    setError(null);
    api.call('messages.acknowledge', { messageId: message.id }).catch((e: unknown) => setError(explain(e))).finally(() => setBusy(false));
  };
  return (
    <span className="acknowledge">
      <button type="button" className="primary small" onClick={acknowledge} disabled={busy} aria-label={`Acknowledge urgent message from ${message.senderName}`}>Acknowledge</button>
      <span className="hint">Tells {message.senderName} you have it in hand (signed by this workstation).</span>
      {error && <span className="error" role="alert">{error}</span>}
    </span>
  );
}

/** The sender's view of their ladder: one line per step, and the acknowledgement that stopped it. */
function LadderProgress({ urgency }: { urgency: MessageUrgency }) {
  const ladder = urgency.ladder;
  const ack = ladder ? ladder.acknowledged ?? urgency.acknowledgements[0] ?? null : null;
  const status = ack ? `Acknowledged by ${acknowledger(ack)} at ${formatTime(ack.at)}` : 'Waiting for acknowledgement';
  // Heard through the LiveRegion, also while a dialog makes the page inert (the line has no live role): that it waits
  // here; its acknowledgement is said by the main screen (useAcknowledgementAnnouncements), heard wherever she is.
  useAnnouncement('status', ladder && !ack ? `Your urgent message: ${status}.` : null);
  if (!ladder) return null;
  const lines = ladder.steps.map((s, i) => {
    const who = s.role ? `${s.role} (${names(s.to)})` : names(s.to);
    if (s.skipped === 'reached') return { key: i, state: 'stopped', text: `Not escalated to ${who}: they had the message already` };
    if (s.skipped === 'unreachable') return { key: i, state: 'stopped', text: `Not escalated to ${who}: no workstation to send it to` };
    if (s.releasedAt !== null) return { key: i, state: 'escalated', text: `Escalated to ${who} at ${formatTime(s.releasedAt)}` };
    if (s.cancelledAt !== null || ack) return { key: i, state: 'stopped', text: `Not escalated to ${who}: acknowledged in time` };
    if (!ladder.submitted || s.dueAt === null) return { key: i, state: 'pending', text: `Escalates to ${who} after ${formatDuration(s.afterMs / 60_000)} without acknowledgement` };
    return { key: i, state: 'pending', text: `Escalates to ${who} at ${formatTime(s.dueAt)} without acknowledgement` };
  });
  return (
    <div className="ladder">
      <p className={`ladder-status ${ack ? 'done' : 'waiting'}`}>{status}</p>
      <ol className="ladder-steps" aria-label="Escalation">
        {lines.map((l) => <li key={l.key} className={`step-${l.state}`}>{l.text}</li>)}
      </ol>
    </div>
  );
}
