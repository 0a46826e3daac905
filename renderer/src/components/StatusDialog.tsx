import { useEffect, useId, useState } from 'react';
import type { ContactView } from '../../../shared/contract';
import type { UserId } from '../../../shared/ids';
import { MAX_PRESENCE_NOTE, PRESENCE_STATUSES, forwards, type ForwardTarget, type Presence, type PresenceStatus } from '../../../shared/wire/presence';
import type { RoleId, RoleSummary } from '../../../shared/wire/roles';
import { useApi } from '../context';
import { formatTime, initials } from '../format';
import { useAction } from '../useAction';
import { Modal } from './Dialogs';
import { Alert, Field } from './Field';
import { PresenceBadge } from './PresenceBadge';

/** What each status tells colleagues, under its name. */
const MEANING: Readonly<Record<PresenceStatus, string>> = {
  available: 'Messages reach you as usual.',
  busy: 'You may answer later.',
  inProcedure: 'Scrubbed in, or with a patient.',
  offShift: 'Not working; a colleague can cover your messages.',
  doNotDisturb: 'Only urgent messages notify you; a colleague can cover.',
};

/** How long a status lasts, as offered (minutes; null: until changed). */
const DURATIONS: readonly { label: string; minutes: number | null }[] = [
  { label: 'Until I change it', minutes: null },
  { label: '30 minutes', minutes: 30 },
  { label: '1 hour', minutes: 60 },
  { label: '2 hours', minutes: 120 },
  { label: '4 hours', minutes: 240 },
  { label: '8 hours', minutes: 480 },
  { label: '12 hours', minutes: 720 },
];

/** The forward select's value ("user:<id>", "role:<id>", or "" for nobody) as the relay takes it. */
function forwardTarget(value: string): ForwardTarget | null {
  const [kind, id] = value.split(':');
  if (kind === 'user' && id) return { kind: 'user', userId: id as UserId };
  if (kind === 'role' && id) return { kind: 'role', roleId: id as RoleId };
  return null;
}

/** The header's own name with the user's status under it, in words; opens the dialog that sets it. */
export function StatusButton({ name, presence, onOpen }: { name: string; presence: Presence | undefined; onOpen: () => void }) {
  const shown = presence ?? { userId: '' as UserId, status: 'available' as const, note: null, until: null, forwardTo: null, since: null };
  return (
    <button type="button" className="ghost me status-button" onClick={onOpen} title="Set your status">
      <span className="avatar small" aria-hidden="true">{initials(name)}</span>
      <span className="status-button-text">
        <span className="status-button-name">{name}</span>
        <PresenceBadge presence={shown} />
      </span>
      <span className="visually-hidden"> (your status: change it)</span>
    </button>
  );
}

/**
 * Sets the user's own status: what it is, an optional note for colleagues (organisational only: the dialog says
 * not to name a patient), how long it lasts, and for Off shift or Do not disturb who covers their direct messages.
 */
export function StatusDialog({ current, contacts, self, onClose, onSaved }: { current: Presence | undefined; contacts: ReadonlyMap<string, ContactView>; self: UserId; onClose: () => void; onSaved: (p: Presence) => void }) {
  const api = useApi();
  const groupId = useId();
  const [status, setStatus] = useState<PresenceStatus>(current?.status ?? 'available');
  const [note, setNote] = useState(current?.note ?? '');
  const [minutes, setMinutes] = useState<number | null>(null);
  const [forwardTo, setForwardTo] = useState<string>(current?.forwardTo ? (current.forwardTo.kind === 'user' ? `user:${current.forwardTo.userId}` : `role:${current.forwardTo.roleId}`) : '');
  const [roles, setRoles] = useState<readonly RoleSummary[]>([]);
  // The on-call roles one can hand over to (whoever holds the role when a message comes gets it).
  useEffect(() => void api.call('roles.search', { query: '', limit: 50 }).then(setRoles).catch(() => setRoles([])), [api]);
  const { busy, error, run } = useAction();
  const colleagues = [...contacts.values()].filter((c) => c.userId !== self && c.reachable).sort((a, b) => a.displayName.localeCompare(b.displayName));
  const canForward = forwards(status);
  const endsAt = minutes === null ? null : Date.now() + minutes * 60_000;

  const save = () => void run(async () => onSaved(await api.call('presence.set', {
    status,
    note: note.trim() === '' ? null : note.trim(),
    until: status === 'available' ? null : (minutes === null ? null : Date.now() + minutes * 60_000),
    forwardTo: canForward ? forwardTarget(forwardTo) : null,
  })));

  return (
    <Modal title="Your status" onClose={onClose} wide>
      <form className="form status-form" onSubmit={(e) => { e.preventDefault(); save(); }}>
        {error && <Alert>{error}</Alert>}
        <fieldset className="status-choices" aria-describedby={`${groupId}-shown`}>
          <legend>Status</legend>
          {PRESENCE_STATUSES.map((s) => (
            <label key={s} className={`status-choice ${status === s ? 'selected' : ''}`}>
              <input type="radio" name="status" value={s} checked={status === s} onChange={() => setStatus(s)} />
              <span className="status-choice-text">
                <PresenceBadge presence={{ userId: self, status: s, note: null, until: null, forwardTo: null, since: null }} />
                <span className="hint">{MEANING[s]}</span>
              </span>
            </label>
          ))}
        </fieldset>
        <p className="hint" id={`${groupId}-shown`}>Colleagues see your status in their conversation lists, in people pickers and at the top of your conversations.</p>
        <Field label="Note (optional)" value={note} maxLength={MAX_PRESENCE_NOTE} onChange={(e) => setNote(e.target.value)} placeholder="e.g. Theatre 3, back at 14:00"
          hint={<><strong>No patient details.</strong> Everyone in the directory can read this note.</>} />
        {status !== 'available' && (
          <div className="field">
            <label htmlFor={`${groupId}-until`}>How long</label>
            <select id={`${groupId}-until`} value={minutes ?? ''} onChange={(e) => setMinutes(e.target.value === '' ? null : Number(e.target.value))} aria-describedby={`${groupId}-until-hint`}>
              {DURATIONS.map((d) => <option key={d.label} value={d.minutes ?? ''}>{d.label}</option>)}
            </select>
            <div className="hint" id={`${groupId}-until-hint`}>{endsAt === null ? 'Your status stays until you change it.' : `Back to Available at ${formatTime(endsAt)}.`}</div>
          </div>
        )}
        {canForward && (
          <div className="field">
            <label htmlFor={`${groupId}-forward`}>Forward my direct messages to</label>
            <select id={`${groupId}-forward`} value={forwardTo} onChange={(e) => setForwardTo(e.target.value)} aria-describedby={`${groupId}-forward-hint`}>
              <option value="">Nobody (messages wait for me)</option>
              {roles.length > 0 && (
                <optgroup label="On-call roles">
                  {roles.map((r) => <option key={r.id} value={`role:${r.id}`}>{r.name}</option>)}
                </optgroup>
              )}
              <optgroup label="Colleagues">
                {colleagues.map((c) => <option key={c.userId} value={`user:${c.userId}`}>{c.displayName}{c.jobTitle ? `, ${c.jobTitle}` : ''}</option>)}
              </optgroup>
            </select>
            <div className="hint" id={`${groupId}-forward-hint`}>They also get each direct message sent to you, marked “Forwarded” (a role: whoever holds it at the time). You still get it too.{endsAt === null && forwardTo !== '' ? ' Without an end time, forwarding stops after 7 days unless you set it again.' : ''}</div>
          </div>
        )}
        <div className="actions">
          <button type="button" className="secondary" onClick={onClose}>Cancel</button>
          <button type="submit" className="primary" disabled={busy}>{busy ? 'Saving…' : 'Set status'}</button>
        </div>
      </form>
    </Modal>
  );
}
