import { useCallback, useEffect, useState, type FormEvent } from 'react';
import type { ContactView } from '../../../shared/contract';
import type { UserId } from '../../../shared/ids';
import { STANDING_SHIFT_END, type RoleDetail, type Shift } from '../../../shared/wire/roles';
import { useApi } from '../context';
import { explain } from '../errors';
import { useAction } from '../useAction';
import { Modal } from './Dialogs';
import { Alert, Field } from './Field';
import { when } from './RoleParts';

const DAY = 86_400_000;
/** How far ahead the dialog lists shifts. */
const DAYS_SHOWN = 7;

/** `YYYY-MM-DDTHH:mm` for a datetime-local input, in this computer's time. */
function localInput(at: number): string {
  const d = new Date(at - new Date(at).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** Less than this uncovered between two shifts is no gap worth a line (a hand-over a few seconds late). */
const MIN_GAP_MS = 60_000;

/** The stretches of [from, to) that no shift covers (a deactivated holder's shifts leave one, for instance). */
export function rotaGaps(shifts: readonly Pick<Shift, 'startsAt' | 'endsAt'>[], from: number, to: number): { startsAt: number; endsAt: number }[] {
  const gaps: { startsAt: number; endsAt: number }[] = [];
  let covered = from;
  for (const s of [...shifts].sort((a, b) => a.startsAt - b.startsAt)) {
    if (s.startsAt - covered >= MIN_GAP_MS) gaps.push({ startsAt: covered, endsAt: Math.min(s.startsAt, to) });
    covered = Math.max(covered, s.endsAt);
    if (covered >= to) break;
  }
  if (to - covered >= MIN_GAP_MS) gaps.push({ startsAt: covered, endsAt: to });
  return gaps;
}

/** The table's rows: each shift, and each gap between them, by time. */
type RotaRow = { kind: 'shift'; at: number; shift: Shift } | { kind: 'gap'; at: number; startsAt: number; endsAt: number };
function rotaRows(shifts: readonly Shift[], from: number, to: number): RotaRow[] {
  const rows: RotaRow[] = [...shifts.map((shift) => ({ kind: 'shift' as const, at: shift.startsAt, shift })), ...rotaGaps(shifts, from, to).map((g) => ({ kind: 'gap' as const, at: g.startsAt, ...g }))];
  return rows.sort((a, b) => a.at - b.at);
}

/**
 * Who holds a role over the next week, with the gaps nobody covers, for someone with the scheduler permission: remove a shift, or add one
 * (a colleague, a start and an end in this computer's time). The relay refuses anyone else; every change is
 * audited there with this workstation as the actor.
 */
export function ScheduleDialog({ detail, contacts, onClose, onChanged }: { detail: RoleDetail; contacts: ReadonlyMap<string, ContactView>; onClose: () => void; onChanged: () => void }) {
  const api = useApi();
  const roleId = detail.role.id;
  const [shifts, setShifts] = useState<readonly Shift[] | null>(null);
  const { busy, error, setError, run } = useAction();
  const start = Date.now();
  const [who, setWho] = useState('');
  const [from, setFrom] = useState(() => localInput(Math.ceil(start / 3_600_000) * 3_600_000));
  const [to, setTo] = useState(() => localInput(Math.ceil(start / 3_600_000) * 3_600_000 + 12 * 3_600_000));
  const load = useCallback(() => {
    api.call('roles.shifts', { roleId, from: Date.now() - DAY, to: Date.now() + DAYS_SHOWN * DAY }).then(setShifts).catch((e: unknown) => setError(explain(e)));
  }, [api, roleId]);
  useEffect(load, [load]);

  const change = (work: () => Promise<unknown>) => void run(async () => {
    await work();
    load();
    onChanged();
  });
  const remove = (shift: Shift) => change(() => api.call('roles.removeShift', { roleId, shiftId: shift.id }));
  const add = (event: FormEvent) => {
    event.preventDefault();
    const startsAt = new Date(from).getTime();
    const endsAt = new Date(to).getTime();
    if (!who) return setError('Choose who holds the role.');
    if (!(endsAt > startsAt)) return setError('The shift must end after it starts.');
    change(() => api.call('roles.addShift', { roleId, userId: who as UserId, startsAt, endsAt }));
  };
  const people = [...contacts.values()].filter((c) => c.reachable || c.status !== 'pending').sort((a, b) => a.displayName.localeCompare(b.displayName));
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const backup = detail.backup;
  const backupWords = backup ? `messages go to the backup, ${backup.kind === 'user' ? backup.displayName : backup.role.name}` : 'the role has no backup';

  return (
    <Modal title={`Schedule: ${detail.role.name}`} onClose={onClose} wide>
      <p className="muted">Times are in your computer’s time ({zone}){detail.role.timeZone !== zone ? `; the rota is kept in ${detail.role.timeZone} time` : ''}. Each change is recorded in the audit log.</p>
      {error && <Alert>{error}</Alert>}
      <table className="shifts" aria-label={`Shifts of ${detail.role.name} this week`}>
        <thead><tr><th scope="col">Who</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Entered</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr></thead>
        <tbody>
          {shifts?.length === 0 && <tr><td colSpan={5} className="muted">No shifts this week.</td></tr>}
          {shifts && shifts.length > 0 && rotaRows(shifts, start, start + DAYS_SHOWN * DAY).map((row) => (row.kind === 'shift' ? (
            <tr key={row.shift.id}>
              <td>{row.shift.displayName}</td><td>{when(row.shift.startsAt)}</td><td>{row.shift.endsAt >= STANDING_SHIFT_END ? 'standing' : when(row.shift.endsAt)}</td>
              <td>{({ app: 'in the app', csv: 'CSV rota', ics: 'calendar rota', cli: 'by IT', scim: 'directory group', ldap: 'directory group' } as const)[row.shift.source]}</td>
              <td>{row.shift.source === 'scim' || row.shift.source === 'ldap'
                ? <span className="muted">changed in the directory</span>
                : <button type="button" className="ghost" disabled={busy} aria-label={`Remove ${row.shift.displayName}'s shift from ${when(row.shift.startsAt)} to ${when(row.shift.endsAt)}`} onClick={() => remove(row.shift)}>Remove</button>}</td>
            </tr>
          ) : (
            <tr key={`gap-${row.startsAt}`} className="rota-gap">
              <td colSpan={5}>No one on the rota {row.endsAt >= start + DAYS_SHOWN * DAY ? `after ${when(row.startsAt)}` : `from ${when(row.startsAt)} to ${when(row.endsAt)}`}: {backupWords}</td>
            </tr>
          )))}
        </tbody>
      </table>
      <form className="add-shift" onSubmit={add} aria-label="Add a shift">
        <div className="field">
          <label htmlFor="shift-who">Who</label>
          <select id="shift-who" value={who} onChange={(e) => setWho(e.target.value)}>
            <option value="">Choose a colleague</option>
            {people.map((c) => <option key={c.userId} value={c.userId}>{c.displayName}{c.department ? ` (${c.department})` : ''}</option>)}
          </select>
        </div>
        <Field label="From" type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} required />
        <Field label="To" type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} required />
        <button type="submit" className="primary" disabled={busy}>Add shift</button>
      </form>
    </Modal>
  );
}
