import { useEffect, useState } from 'react';
import type { ConversationView } from '../../../shared/contract';
import type { RoleDelivery, RoleDetail, RoleHolder, RoleId, RoleSummary } from '../../../shared/wire/roles';
import { useApi } from '../context';
import { dayKey, formatTime } from '../format';
import { useAnnouncement } from './LiveRegion';

/*
 * On-call roles in the screens (issue 19): the roles a search finds (in the new-conversation picker), the
 * header of a role conversation ("Cardiology on call: Dr. Lee, since 08:00"), and the line a hand-over puts in
 * the conversation ("Handed over to Dr. Patel at 20:00"). Times are this computer's; the rota's own zone is
 * named where it differs.
 */

const weekdayTime = new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' });
/** "08:00" today, "Tue 20:00" another day. */
export const when = (at: number, now = Date.now()): string => (dayKey(at) === dayKey(now) ? formatTime(at) : weekdayTime.format(at));

/** "Dr. Lee, since 08:00" / "Dr. Lee, since 08:00, and Dr. Chen, since 07:30". */
export function holdersText(holders: readonly RoleHolder[]): string {
  return holders.map((h) => `${h.displayName}, since ${when(h.since)}`).join(', and ');
}

/** Roles whose name or department matches the picker's search: starting a conversation with one writes to whoever holds it. */
export function RoleMatches({ query, onPick }: { query: string; onPick: (role: RoleSummary) => void }) {
  const api = useApi();
  const [roles, setRoles] = useState<readonly RoleSummary[]>([]);
  useEffect(() => {
    let current = true;
    const timer = setTimeout(() => {
      api.call('roles.search', { query, limit: 8 }).then((found) => current && setRoles(found)).catch(() => current && setRoles([]));
    }, query === '' ? 0 : 150);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [api, query]);
  if (roles.length === 0) return null;
  return (
    <>
    <p className="picker-caption" aria-hidden="true">On-call roles</p>
    <ul className="people roles" aria-label="On-call roles">
      {roles.map((r) => (
        <li key={r.id}>
          <button type="button" className="person role" onClick={() => onPick(r)}>
            <span className="avatar small role-avatar" aria-hidden="true">☎</span>
            <span className="person-text">
              <span className="person-name">{r.name}</span>
              <span className="person-role">On-call role{r.department ? ` · ${r.department}` : ''}</span>
              <span className="person-contact">Goes to whoever holds it when you send</span>
            </span>
          </button>
        </li>
      ))}
    </ul>
    <p className="picker-caption" aria-hidden="true">Colleagues</p>
    </>
  );
}

/**
 * The header line of a role conversation: who holds the role now (asked of the relay when the conversation
 * opens and every minute; the holders of the last message while it cannot be asked), the next hand-over, and
 * the backup when no one holds it.
 */
export function RoleHeader({ conversation, version, onSchedule }: { conversation: ConversationView; version: number; onSchedule: (detail: RoleDetail) => void }) {
  const api = useApi();
  const role = conversation.role;
  /** The relay's answer; null: it could not be asked; undefined: not answered yet. */
  const [detail, setDetail] = useState<RoleDetail | null | undefined>(undefined);
  useEffect(() => {
    if (!role) return undefined;
    let current = true;
    const read = () => void api.call('roles.detail', { roleId: role.id as RoleId }).then((d) => current && setDetail(d)).catch(() => current && setDetail(null));
    read();
    const timer = setInterval(read, 60_000);
    return () => {
      current = false;
      clearInterval(timer);
    };
  }, [api, role, version]);
  const holders = detail?.holders ?? role?.holders ?? [];
  const backup = detail?.backup;
  const next = detail?.nextHandOver;
  const name = detail?.role.name ?? role?.name;
  const who = holders.length > 0 ? holdersText(holders) : backup ? `no one holds it now; messages go to the backup, ${backup.kind === 'user' ? backup.displayName : backup.role.name}` : 'no one holds it now, and it has no backup';
  const stale = detail === null && holders.length > 0 ? ' (as of the last message: the server cannot be asked now)' : '';
  // Heard through the LiveRegion when it changes, also while a dialog makes the page inert (the line has no live role);
  // from the relay's first answer on, not before (the holders of the last message are not news, nor a failure yet).
  useAnnouncement('status', role && detail !== undefined ? `${name}: ${who}${stale}` : null);
  if (!role) return null;
  return (
    <>
      <p className="role-holders">
        <strong>{name}:</strong> {who}
        {stale && <span className="muted">{stale}</span>}
      </p>
      {detail?.unreachable.filter((u) => u.as === 'holder').map((u) => (
        <p className="role-unreachable" key={u.userId}>
          {u.displayName} is on the rota but cannot be reached ({u.reason === 'noWorkstation' ? 'not signed in on any workstation' : 'account not active'}).
        </p>
      ))}
      <p className="muted role-next">
        {!next ? 'No hand-over on the rota' : next.holders.length > 0 ? `Next hand-over ${when(next.at)} to ${next.holders.map((h) => h.displayName).join(', ')}` : `No one is on the rota after ${when(next.at)}${detail?.backup ? ': messages then go to the backup' : ''}`}
        {detail && detail.role.timeZone !== Intl.DateTimeFormat().resolvedOptions().timeZone ? ` · rota kept in ${detail.role.timeZone} time, shown in yours` : ''}
        {detail?.canSchedule && <> · <button type="button" className="link" onClick={() => onSchedule(detail)}>Schedule</button></>}
      </p>
    </>
  );
}

/** The line a hand-over puts above the first message to the new holder(s). */
export function HandOverLine({ delivery }: { delivery: RoleDelivery }) {
  const names = delivery.holders.map((h) => h.displayName).join(' and ') || 'no one named';
  // A payload from another workstation may name no holder: the line must still render (never a thrown date).
  const since = delivery.holders.length > 0 ? Math.max(...delivery.holders.map((h) => h.since)) : null;
  const text = delivery.via === 'backup' ? `No one held ${delivery.roleName}: sent to the backup, ${names}` : since === null ? `Handed over to ${names}` : `Handed over to ${names} at ${when(since)}`;
  return <div className="day-separator handover-separator" role="separator" aria-label={text}><span>{text}</span></div>;
}
