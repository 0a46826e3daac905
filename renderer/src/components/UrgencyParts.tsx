import { useEffect, useState } from 'react';
import '../urgency.css';
import type { ContactView, MessageView } from '../../../shared/contract';
import type { UserId } from '../../../shared/ids';
import type { RoleId, RoleSummary } from '../../../shared/wire/roles';
import type { LadderChoice, MessageUrgency, UrgentOptions } from '../../../shared/urgency';
import { useApi } from '../context';
import { explain } from '../errors';
import { formatDuration, formatTime } from '../format';

/*
 * Urgent messages in the conversation (issue 19): the reason beside the Urgent label, an Acknowledge action
 * distinct from reading, who acknowledged and when, a copy an escalation brought to this user, and the sender's
 * ladder: waiting, escalated to whom at what time, acknowledged by whom.
 */

const names = (people: readonly { name: string }[]) => (people.length <= 1 ? people[0]?.name ?? 'nobody' : `${people.slice(0, -1).map((p) => p.name).join(', ')} and ${people.at(-1)?.name ?? ''}`);

/** "Dr. Patel (covering for Dr. Lee)": who acknowledged, and for whom when they had it as the colleague covering. */
const acknowledger = (a: MessageUrgency['acknowledgements'][number]) => (a.coveringFor ? `${a.name} (covering for ${a.coveringFor.name})` : a.name);

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
  if (!ladder) return null;
  const ack = ladder.acknowledged ?? urgency.acknowledgements[0] ?? null;
  const lines = ladder.steps.map((s, i) => {
    const who = s.role ? `${s.role} (${names(s.to)})` : names(s.to);
    if (s.releasedAt !== null) return { key: i, state: 'escalated', text: `Escalated to ${who} at ${formatTime(s.releasedAt)}` };
    if (s.cancelledAt !== null || ack) return { key: i, state: 'stopped', text: `Not escalated to ${who}: acknowledged in time` };
    if (!ladder.submitted || s.dueAt === null) return { key: i, state: 'pending', text: `Escalates to ${who} after ${formatDuration(s.afterMs / 60_000)} without acknowledgement` };
    return { key: i, state: 'pending', text: `Escalates to ${who} at ${formatTime(s.dueAt)} without acknowledgement` };
  });
  return (
    <div className="ladder">
      <p className={`ladder-status ${ack ? 'done' : 'waiting'}`} role="status">{ack ? `Acknowledged by ${acknowledger(ack)} at ${formatTime(ack.at)}` : 'Waiting for acknowledgement'}</p>
      <ol className="ladder-steps" aria-label="Escalation">
        {lines.map((l) => <li key={l.key} className={`step-${l.state}`}>{l.text}</li>)}
      </ol>
    </div>
  );
}

/** One escalation step's choice: a colleague's user id, `role:<id>` for an on-call role, or '' for nobody. */
type StepChoice = string;

/** What the composer keeps for an urgent message: the reason, and (1:1 only) who escalates after how long. */
export interface UrgentDraft {
  readonly reason: string;
  readonly ladder: readonly StepChoice[];
}

export const NO_URGENT_DRAFT: UrgentDraft = { reason: '', ladder: [] };

/** The ladder the draft chose, in the command's shape (steps with nobody chosen are left out). */
export function ladderChoice(draft: UrgentDraft, minutes: readonly number[]): LadderChoice | undefined {
  const steps = draft.ladder.flatMap((choice, i) => {
    if (!choice || minutes[i] === undefined) return [];
    const afterMinutes = minutes[i] as number;
    return [choice.startsWith('role:') ? { afterMinutes, to: [], role: choice.slice(5) as RoleId } : { afterMinutes, to: [choice as UserId] }];
  });
  return steps.length > 0 ? steps : undefined;
}

/** The reason (required) and, for a 1:1 conversation, the escalation steps, shown while Urgent is on. */
export function UrgentFields({ peer, draft, onChange, options }: { peer: UserId | null; draft: UrgentDraft; onChange: (draft: UrgentDraft) => void; options: UrgentOptions | null }) {
  const api = useApi();
  const [contacts, setContacts] = useState<ContactView[]>([]);
  const [roles, setRoles] = useState<RoleSummary[]>([]);
  useEffect(() => {
    if (!peer) return;
    void api.call('directory.list', {}).then(setContacts).catch(() => setContacts([]));
    void api.call('roles.search', { query: '' }).then(setRoles).catch(() => setRoles([]));
  }, [api, peer]);
  if (!options) return null;
  const colleagues = contacts.filter((c) => c.userId !== peer && c.reachable);
  return (
    <fieldset className="urgent-fields">
      <legend className="visually-hidden">Urgent message</legend>
      <label className="urgent-reason-field">
        <span>Why is it urgent?</span>
        <select value={draft.reason} onChange={(e) => onChange({ ...draft, reason: e.target.value })} aria-required="true" aria-invalid={draft.reason === ''}>
          <option value="">Choose a reason…</option>
          {options.reasons.map((r) => <option key={r} value={r}>{r}</option>)}
        </select>
      </label>
      {peer && options.escalationMinutes.map((minutes, i) => (
        <label key={minutes} className="escalation-step-field">
          <span>If not acknowledged within {formatDuration(minutes)}, also send to</span>
          <select value={draft.ladder[i] ?? ''} onChange={(e) => {
            const ladder = [...draft.ladder];
            ladder[i] = e.target.value;
            onChange({ ...draft, ladder });
          }}>
            <option value="">nobody</option>
            {roles.length > 0 && <optgroup label="On-call roles (whoever holds it now)">{roles.map((r) => <option key={r.id} value={`role:${r.id}`}>{r.name}</option>)}</optgroup>}
            <optgroup label="Colleagues">{colleagues.map((c) => <option key={c.userId} value={c.userId}>{c.displayName}</option>)}</optgroup>
          </select>
        </label>
      ))}
    </fieldset>
  );
}
