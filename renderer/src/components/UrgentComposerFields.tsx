import { useEffect, useState } from 'react';
import type { ContactView } from '../../../shared/contract';
import type { UserId } from '../../../shared/ids';
import type { RoleBackup, RoleId, RoleSummary } from '../../../shared/wire/roles';
import type { LadderChoice, UrgentOptions } from '../../../shared/urgency';
import { useApi } from '../context';
import { formatDuration } from '../format';
import { names } from './UrgencyParts';

/*
 * What the composer asks of an urgent message (issue 19): the reason (required, from the organisation's list)
 * and who it escalates to if nobody acknowledges. In a 1:1 conversation, a step per policy time. In a conversation
 * with an on-call role, the policy's default (the role's backup after the first time) or steps chosen as in a
 * 1:1, with the role's backup among the choices.
 */

/** One escalation step's choice: a colleague's user id, `role:<id>` for an on-call role, `backup:` before either for the role's backup, or '' for nobody. */
type StepChoice = string;

/** What the composer keeps for an urgent message: the reason, and who escalates after how long. */
export interface UrgentDraft {
  readonly reason: string;
  readonly ladder: readonly StepChoice[];
  /** To a role: the policy's default ladder, or the steps chosen. */
  readonly mode?: 'default' | 'steps';
}

export const NO_URGENT_DRAFT: UrgentDraft = { reason: '', ladder: [] };

/** The ladder the draft chose, in the command's shape (steps with nobody chosen are left out; none: the policy's default). */
export function ladderChoice(draft: UrgentDraft, minutes: readonly number[]): LadderChoice | undefined {
  if (draft.mode === 'default') return undefined;
  const steps = draft.ladder.flatMap((choice, i) => {
    if (!choice || minutes[i] === undefined) return [];
    const afterMinutes = minutes[i] as number;
    const target = choice.startsWith('backup:') ? choice.slice(7) : choice;
    return [target.startsWith('role:') ? { afterMinutes, to: [], role: target.slice(5) as RoleId } : { afterMinutes, to: [target as UserId] }];
  });
  return steps.length > 0 ? steps : undefined;
}

/** The role's backup as a step's choice: its value and its words ("Ward 4 charge nurse's backup (Dr. Carol Nguyen)"). */
function backupChoice(roleName: string, backup: RoleBackup | null): { value: string; label: string } | null {
  if (!backup) return null;
  if (backup.kind === 'user') return { value: `backup:${backup.userId}`, label: `${roleName}'s backup (${backup.displayName})` };
  const holders = backup.holders.map((h) => ({ name: h.displayName }));
  return { value: `backup:role:${backup.role.id}`, label: `${roleName}'s backup, ${backup.role.name}${holders.length > 0 ? ` (${names(holders)})` : ''}` };
}

/** The reason (required) and the escalation steps, shown while Urgent is on: a 1:1 (`peer`) or a role (`roleId`) conversation. */
export function UrgentFields({ peer, roleId = null, draft, onChange, options }: { peer: UserId | null; roleId?: RoleId | null; draft: UrgentDraft; onChange: (draft: UrgentDraft) => void; options: UrgentOptions | null }) {
  const api = useApi();
  const [contacts, setContacts] = useState<ContactView[]>([]);
  const [roles, setRoles] = useState<RoleSummary[]>([]);
  const [role, setRole] = useState<{ name: string; backup: RoleBackup | null } | null>(null);
  const escalates = peer !== null || roleId !== null;
  useEffect(() => {
    if (!escalates) return;
    void api.call('directory.list', {}).then(setContacts).catch(() => setContacts([]));
    void api.call('roles.search', { query: '' }).then(setRoles).catch(() => setRoles([]));
  }, [api, escalates]);
  useEffect(() => {
    if (!roleId) return;
    void api.call('roles.detail', { roleId }).then((d) => setRole({ name: d.role.name, backup: d.backup })).catch(() => setRole(null));
  }, [api, roleId]);
  if (!options) return null;
  const colleagues = contacts.filter((c) => c.userId !== peer && c.reachable);
  const backup = role ? backupChoice(role.name, role.backup) : null;
  const first = options.escalationMinutes[0];
  const mode = roleId ? draft.mode ?? 'default' : 'steps';
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
      {roleId && first !== undefined && (
        <label className="escalation-mode-field">
          <span>Escalation</span>
          <select value={mode} onChange={(e) => onChange({ ...draft, mode: e.target.value === 'steps' ? 'steps' : 'default' })}>
            <option value="default">{backup ? `The organisation's default: ${backup.label} after ${formatDuration(first)}` : "The organisation's default (the role's backup)"}</option>
            <option value="steps">Choose the steps</option>
          </select>
        </label>
      )}
      {escalates && mode === 'steps' && options.escalationMinutes.map((minutes, i) => (
        <label key={minutes} className="escalation-step-field">
          <span>If not acknowledged within {formatDuration(minutes)}, also send to</span>
          <select value={draft.ladder[i] ?? ''} onChange={(e) => {
            const ladder = [...draft.ladder];
            ladder[i] = e.target.value;
            onChange({ ...draft, ladder });
          }}>
            <option value="">nobody</option>
            {backup && <option value={backup.value}>{backup.label}</option>}
            {roles.length > 0 && <optgroup label="On-call roles (whoever holds it now)">{roles.filter((r) => r.id !== roleId).map((r) => <option key={r.id} value={`role:${r.id}`}>{r.name}</option>)}</optgroup>}
            <optgroup label="Colleagues">{colleagues.map((c) => <option key={c.userId} value={c.userId}>{c.displayName}</option>)}</optgroup>
          </select>
        </label>
      ))}
      {roleId && mode === 'steps' && draft.ladder.every((c) => !c) && <p className="hint">With no step chosen, the organisation's default applies.</p>}
    </fieldset>
  );
}
