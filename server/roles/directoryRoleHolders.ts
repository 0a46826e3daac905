/*
 * Roles from the hospital's directory (issues 18 and 19): the relay config maps directory groups to on-call
 * roles (`scim.roleGroups`: a SCIM group's displayName or externalId; `directory.ldap.roleGroups`: an LDAP
 * group's DN), and the members of a mapped group hold the role standing: a shift from when the directory said
 * so with no end (STANDING_SHIFT_END), source `scim` or `ldap`, entered by `scim:<token name>` or
 * `ldap:<sync run>`. A member who leaves the group, or whose account is deactivated, stops holding it (the
 * standing shift ends then). Each shift begun or ended is audited (`shift.added` / `shift.removed`) with that
 * actor and source. Shifts from the app, imports and the command line are never touched, and a role holds
 * the union of everyone the rota and the directory name.
 *
 * The map names roles by name; a role the map names that does not exist is reported (logged by the caller),
 * and its groups change nothing until an admin creates it. Organisational data only: role names, group names
 * and DNs are in the config, account ids in the records.
 */
import { z } from 'zod';
import type { UserId } from '../../shared/ids';
import { hasControlCharacters } from '../../shared/wire/directory';
import { MAX_ROLE_HOLDERS, RoleNameSchema } from '../../shared/wire/roles';
import type { ProvisioningSource } from '../directory/DirectoryPerson';
import { provisioningActor } from '../directory/provisioning';
import type { RelayStore } from '../storage/RelayStore';
import type { DirectoryShiftSource } from '../storage/RoleStore';
import { roleNameKey } from '../storage/roleRows';
import { standingHoldersAudit } from './scimRoleGroupWrites';

/** Mapped groups a config may name (each is read at every sync). */
export const MAX_ROLE_GROUPS = 200;

/** `{ "<group>": "<role name>" }`: several groups may map to one role, one group to one role. */
export const RoleGroupMapSchema = z.record(
  z.string().trim().min(1).max(512).refine((s) => !hasControlCharacters(s), 'a group name, id or DN without control characters'),
  RoleNameSchema,
).refine((map) => Object.keys(map).length <= MAX_ROLE_GROUPS, `at most ${MAX_ROLE_GROUPS} groups`);
export type RoleGroupMap = Readonly<Record<string, string>>;

export interface RoleGroupSyncResult {
  /** The roles whose standing holders changed: how many began and ended. */
  readonly changed: readonly { readonly role: string; readonly added: number; readonly ended: number }[];
  /** Role names the map gives that no role has. */
  readonly missingRoles: readonly string[];
  /**
   * Roles whose mapped groups have more members than a message to a role can reach (MAX_ROLE_HOLDERS): nobody
   * new is added, and those who left the groups still stop holding it.
   */
  readonly tooManyMembers: readonly { readonly role: string; readonly members: number }[];
  /** Map keys that match more than one SCIM group (by displayName and externalId together): they grant nothing. */
  readonly ambiguousGroups?: readonly string[];
}

type DirectorySource = Extract<ProvisioningSource, { kind: DirectoryShiftSource }>;

export interface ApplyRoleGroupsOptions {
  /** Runs before each role's write (the LDAP sync's lease). */
  readonly beforeWrite?: () => Promise<void>;
  /**
   * Every role, not only those the map names: a role taken out of the map loses its standing holders from
   * this source too (the LDAP sync, and the relay's hourly pass for SCIM; a SCIM request updates only the mapped).
   */
  readonly everyRole?: boolean;
}

/** The actor of the relay's own pass over SCIM's role groups (not a token: parentheses are in no token's name). */
export const SCIM_CONFIG_PASS = '(config)';

/**
 * Makes each mapped role's standing holders from `source` the accounts `membersByRole` gives it, by the
 * role's roleNameKey (a role the map names with no entry there: nobody).
 */
export async function applyRoleGroups(store: RelayStore, map: RoleGroupMap, source: DirectorySource, membersByRole: ReadonlyMap<string, readonly UserId[]>, at: number, options: ApplyRoleGroupsOptions = {}): Promise<RoleGroupSyncResult> {
  const actor = provisioningActor(source);
  const changed: { role: string; added: number; ended: number }[] = [];
  const missingRoles: string[] = [];
  const tooManyMembers: { role: string; members: number }[] = [];
  const mapped = [...new Set(Object.values(map))].sort();
  const roles = options.everyRole ? await store.roles.listRoles() : [];
  const unmapped = new Set(roles.map((r) => r.name));
  const targets: { name: string; mapped: boolean }[] = [];
  for (const roleName of mapped) {
    const role = await store.roles.roleByName(roleName);
    if (!role) missingRoles.push(roleName);
    else if (!targets.some((t) => t.name === role.name)) {
      unmapped.delete(role.name);
      targets.push({ name: role.name, mapped: true });
    }
  }
  for (const name of unmapped) targets.push({ name, mapped: false });
  for (const target of targets) {
    const role = await store.roles.roleByName(target.name);
    if (!role) continue;
    await options.beforeWrite?.();
    let members = target.mapped ? [...new Set(membersByRole.get(roleNameKey(role.name)) ?? [])] : [];
    // A message to the role could not reach them all: nobody joins until the groups are made smaller, but whoever
    // left them stops holding the role now (a departed clinician must not keep receiving its messages).
    if (members.length > MAX_ROLE_HOLDERS) {
      tooManyMembers.push({ role: role.name, members: members.length });
      const stillIn = new Set(members);
      members = (await store.roles.shifts(role.id, at, at + 1)).filter((shift) => shift.source === source.kind && stillIn.has(shift.userId)).map((shift) => shift.userId);
    }
    const done = await store.roles.setStandingHolders(role.id, source.kind, members, { actor, at }, standingHoldersAudit(actor, role.name));
    if (done.added.length + done.ended.length > 0) changed.push({ role: role.name, added: done.added.length, ended: done.ended.length });
  }
  return { changed, missingRoles, tooManyMembers };
}

/**
 * The members of the SCIM groups mapped to each role (by roleNameKey): a key matches a group's displayName (any
 * case) or its externalId, among the groups of the token source the key is bound to (ScimStore.mappedGroups). A key
 * that matches more than one of them (one group renamed to another's id) grants nothing and is returned as
 * ambiguous: a role's messages must not reach a group nobody mapped. Another source's groups never count.
 */
export async function scimRoleMembers(store: RelayStore, map: RoleGroupMap, at: number): Promise<{ members: Map<string, UserId[]>; ambiguous: string[] }> {
  const members = new Map<string, Set<UserId>>();
  const ambiguous: string[] = [];
  const found = await store.scim.mappedGroups(Object.keys(map), at);
  for (const [key, roleName] of Object.entries(map)) {
    const groups = found.get(key) ?? [];
    const set = members.get(roleNameKey(roleName)) ?? new Set<UserId>();
    members.set(roleNameKey(roleName), set);
    if (groups.length > 1) {
      ambiguous.push(key);
      continue;
    }
    for (const group of groups) for (const id of group.members) set.add(id);
  }
  return { members: new Map([...members].map(([role, set]) => [role, [...set]])), ambiguous };
}

/**
 * The relay's hourly pass: the mapped roles' standing holders from SCIM, as the groups stand now (each SCIM group
 * write already updated the roles mapped to its group, in its transaction: scimRoleGroupWrites.ts).
 */
export async function syncScimRoleGroups(store: RelayStore, map: RoleGroupMap, tokenName: string, at: number, everyRole = false): Promise<RoleGroupSyncResult> {
  if (Object.keys(map).length === 0 && !everyRole) return { changed: [], missingRoles: [], tooManyMembers: [] };
  const { members, ambiguous } = await scimRoleMembers(store, map, at);
  return { ...(await applyRoleGroups(store, map, { kind: 'scim', tokenName }, members, at, { everyRole })), ambiguousGroups: ambiguous };
}

/** An LDAP DN compared without regard to case or the spaces around its separators. */
export function normalizedDn(dn: string): string {
  return dn.split(/(?<!\\),/).map((part) => part.trim().replace(/\s*=\s*/, '=')).join(',').toLowerCase();
}

/** The roles (by roleNameKey) the DNs of a person's groups map to. */
export function ldapRolesOf(map: RoleGroupMap, groupDns: readonly string[]): string[] {
  const byDn = new Map(Object.entries(map).map(([dn, role]) => [normalizedDn(dn), roleNameKey(role)]));
  return [...new Set(groupDns.map((dn) => byDn.get(normalizedDn(dn))).filter((r): r is string => r !== undefined))];
}

