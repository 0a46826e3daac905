/*
 * Roles from SCIM groups, kept inside each SCIM group write (issue 18 leftover): the store that writes a group
 * also updates, in the same transaction, the standing holders of the roles the relay config maps to that group
 * (by its display name or externalId, before or after the write). So a role's holders never lag behind the group
 * that grants it, and a write costs the roles it touches, not a pass over every mapped group. The relay's hourly
 * pass (directoryRoleHolders.ts, syncScimRoleGroups) still covers config changes and anything else.
 *
 * User writes need no such step: a deactivation ends the account's shifts and takes it out of every SCIM group in
 * its own transaction (RelayStore's deactivation), so an account activated again holds nothing until a group
 * write adds it back, which then grants the roles here.
 *
 * What each store asks here is the same on both: which roles a write touches, which map keys name a role, and the
 * members a role gets from the groups those keys match, of the one source each key is bound to (boundGroups; a key
 * matching more than one of that source's groups grants nothing: a role's messages must not reach a group nobody
 * mapped). Organisational data only; account ids in the records.
 */
import type { UserId } from '../../shared/ids';
import type { AuditEvent } from '../audit/AuditRecord';
import { groupNameKey } from '../directory/scimGroupChanges';
import type { StandingHoldersChange } from '../storage/RoleStore';
import { roleNameKey } from '../storage/roleRows';
import type { RoleGroupMap } from './directoryRoleHolders';
import { shiftAudit } from './roleAudit';

/** What a key can match of a group, as the group stood before or after a write. */
export interface GroupNames {
  readonly displayName: string;
  readonly externalId: string | null;
}

/** Whether the map key names this group: its display name without regard to case, or its externalId exactly. */
export const keyMatches = (key: string, group: GroupNames): boolean => groupNameKey(key) === groupNameKey(group.displayName) || key === group.externalId;

/** The role names (as the map gives them, once each) mapped to any of these group states. */
export function rolesOfGroups(map: RoleGroupMap, groups: readonly (GroupNames | null | undefined)[]): string[] {
  const states = groups.filter((g): g is GroupNames => g != null);
  const roles = Object.entries(map).filter(([key]) => states.some((g) => keyMatches(key, g))).map(([, role]) => role);
  return [...new Map(roles.map((r) => [roleNameKey(r), r])).values()];
}

/** The map keys that give this role. */
export const keysOfRole = (map: RoleGroupMap, roleName: string): string[] => Object.entries(map).filter(([, role]) => roleNameKey(role) === roleNameKey(roleName)).map(([key]) => key);

/**
 * Of the groups a map key matches (oldest first), those that count: the groups of the token source the key is bound
 * to (`owner`, scim_role_keys). A key is bound once, to the source of the oldest group it matched when the relay
 * first looked, and stays bound (a deleted group does not free it): another source's group that takes the key's
 * name or externalId never grants the role and never makes the key ambiguous.
 */
export const boundGroups = <G extends { readonly owner: string | null }>(groups: readonly G[], owner: string | undefined): G[] => groups.filter((g) => g.owner !== null && g.owner === owner);

/** The role's members: of each key's matching groups (`found`, by key), those of the keys that match exactly one. */
export function roleMembersFrom(found: ReadonlyMap<string, readonly { readonly id: string; readonly members: readonly UserId[] }[]>): UserId[] {
  const members = new Set<UserId>();
  for (const groups of found.values()) {
    if (new Set(groups.map((g) => g.id)).size !== 1) continue;
    for (const id of groups[0]?.members ?? []) members.add(id);
  }
  return [...members];
}

/** The records of a standing-holder change: one per shift begun or ended, by the SCIM token that wrote the group. */
export const standingHoldersAudit = (actor: string, roleName: string) => (change: StandingHoldersChange): AuditEvent[] => [
  ...change.added.map((shift) => shiftAudit('shift.added', actor, roleName, shift)),
  ...change.ended.map((shift) => shiftAudit('shift.removed', actor, roleName, shift)),
];
