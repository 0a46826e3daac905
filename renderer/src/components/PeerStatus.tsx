import { useEffect, useState } from 'react';
import type { RoleDetail, RoleId } from '../../../shared/wire/roles';
import { useApi } from '../context';
import { forwards } from '../../../shared/wire/presence';
import { usePresenceDirectory } from '../presence';
import { useAnnouncement } from './LiveRegion';
import { PresenceBadge, presenceText, worthShowing } from './PresenceBadge';

/** A role named as cover, with who holds it now (read when it changes; null while unknown). */
function useRoleNow(roleId: RoleId | null): RoleDetail | null {
  const api = useApi();
  const [detail, setDetail] = useState<RoleDetail | null>(null);
  useEffect(() => {
    setDetail(null);
    if (roleId) void api.call('roles.detail', { roleId }).then(setDetail).catch(() => setDetail(null));
  }, [api, roleId]);
  return detail;
}

/**
 * The conversation header's line about the other person's status (issue 19), read again when the
 * conversation opens: "Off shift until 18:00 · Back Monday", and "Your messages also go to Dr. Patel" (or, when
 * the relay reported a forwarding this workstation could not verify as the colleague's, that it is not used).
 * Announced politely when it changes.
 */
export function PeerStatus({ userId, nameOf }: { userId: string; nameOf: (userId: string) => string }) {
  const directory = usePresenceDirectory();
  const { refresh } = directory;
  useEffect(() => refresh(), [refresh, userId]);
  const presence = directory.of(userId);
  const roleId = presence?.forwardTo?.kind === 'role' ? presence.forwardTo.roleId : null;
  const role = useRoleNow(roleId);
  const forwardTo = presence?.forwardTo?.kind === 'user' ? nameOf(presence.forwardTo.userId)
    : role ? `${role.role.name}${role.holders.length > 0 ? ` (${role.holders.map((h) => h.displayName).join(', ')})` : ''}` : roleId ? 'an on-call role' : null;
  const forwardNote = forwardTo && presence && forwards(presence.status) ? `Your messages also go to ${forwardTo}` : null;
  const unverifiedNote = presence?.forwardingUnverified ? `${nameOf(userId)}’s forwarding could not be verified, so your messages go to ${nameOf(userId)} only. If it is urgent, contact whoever covers directly.` : null;
  // Heard through the LiveRegion when it changes, also while a dialog makes the page inert (the line has no live role).
  const said = [presence && `${nameOf(userId)}: ${presenceText(presence)}`, forwardNote, unverifiedNote].filter(Boolean).join('. ');
  useAnnouncement('status', said === '' ? null : `${said}.`);
  return (
    <p className="peer-status">
      {presence && <PresenceBadge presence={presence} detailed />}
      {forwardNote && <span className="forward-note">{forwardNote}</span>}
      {unverifiedNote && <span className="forward-note forward-unverified">{unverifiedNote}</span>}
    </p>
  );
}

/**
 * A care team's header line (issue 19): the members who are not simply Available, each with their status in
 * words ("Nurse Bob Okafor: Off shift"), so the team knows who is away before writing. Nothing when all are.
 */
export function TeamStatuses({ members, self, nameOf }: { members: readonly string[]; self: string; nameOf: (userId: string) => string }) {
  const directory = usePresenceDirectory();
  const { refresh } = directory;
  const key = members.join(',');
  useEffect(() => refresh(), [refresh, key]);
  const away = members.filter((m) => m !== self).map((m) => ({ userId: m, presence: directory.of(m) })).filter((m) => worthShowing(m.presence));
  if (away.length === 0) return null;
  return (
    <ul className="team-statuses" aria-label="Team members' status">
      {away.map(({ userId, presence }) => <li key={userId}>{nameOf(userId)}: <PresenceBadge presence={presence} /></li>)}
    </ul>
  );
}
