/**
 * The embedded store's part of SCIM provisioning (ScimStore.ts): tokens by hash, the accounts SCIM deleted,
 * and SCIM's groups with their members, each mutation one IMMEDIATE transaction with its audit records.
 */
import { randomUUID } from 'node:crypto';
import type { UserId } from '../../../shared/ids';
import type { AuditEvent } from '../../audit/AuditRecord';
import { checkedGroupExternalId, checkedGroupName, groupCreatedAudit, groupDeletedAudit, groupNameKey, planGroupUpdate, ScimGroupRefused } from '../../directory/scimGroupChanges';
import { RelayFailure } from '../../RelayFailure';
import type { UserRecord } from '../RelayStore';
import { FORGET_REVOKED_SOURCE, type NewScimGroup, type ScimGroupQuery, type ScimGroupUpdate, type ScimGroupWriter, type ScimSlice, type ScimStore, type ScimStoredGroup, type ScimTokenRecord, type ScimUserQuery } from '../ScimStore';
import { roleNameKey } from '../roleRows';
import type { SqliteRoles } from './SqliteRoles';
import { MAX_ROLE_HOLDERS, type RoleId } from '../../../shared/wire/roles';
import { provisioningActor } from '../../directory/provisioning';
import { boundGroups, keysOfRole, roleMembersFrom, rolesOfGroups, standingHoldersAudit, type GroupNames } from '../../roles/scimRoleGroupWrites';
import { SCIM_VISIBLE_USERS, groupConditions, userConditions, whereClause } from '../scimQueries';
import type { SqliteDatabase } from './SqliteDatabase';
import { toUser, type UserRow } from './SqliteDirectory';

interface TokenRow { name: string; created_at: number; revoked_at: number | null; expires_at: number; source: string | null }
const TOKEN_COLUMNS = 'name, created_at, revoked_at, expires_at, source';
interface GroupRow { id: string; display_name: string; external_id: string | null; created_at: number; last_modified_at: number; owner: string | null }

const toToken = (r: TokenRow): ScimTokenRecord => ({ name: r.name, createdAt: r.created_at, revokedAt: r.revoked_at, expiresAt: r.expires_at, source: r.source ?? r.name });

/** SQLite's named parameters for whereClause's values. */
function named(base: string, conditions: Parameters<typeof whereClause>[1]): { where: string; params: Record<string, string> } {
  const { where, values } = whereClause(base, conditions, (i) => `$v${i}`);
  return { where, params: Object.fromEntries(values.map((v, i) => [`v${i}`, v])) };
}

export class SqliteScim implements ScimStore {
  readonly #sql: SqliteDatabase;
  readonly #appendAudit: (events: readonly AuditEvent[]) => void;

  readonly #roles: SqliteRoles;

  constructor(sql: SqliteDatabase, appendAudit: (events: readonly AuditEvent[]) => void, roles: SqliteRoles) {
    this.#sql = sql;
    this.#appendAudit = appendAudit;
    this.#roles = roles;
  }

  async createToken(name: string, tokenHash: string, at: number, expiresAt: number, audit: readonly AuditEvent[], replaces?: string): Promise<void> {
    this.#sql.immediate(() => {
      if (this.#sql.get('SELECT 1 FROM scim_tokens WHERE name = $n', { n: name })) throw new RelayFailure('BAD_REQUEST', `a SCIM token named ${name} exists already`);
      const replaced = replaces === undefined ? undefined : this.#sql.get<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM scim_tokens WHERE name = $n`, { n: replaces });
      if (replaces !== undefined && !replaced) throw new RelayFailure('NOT_FOUND', `no SCIM token named ${replaces} to replace`);
      const source = replaced ? toToken(replaced).source : name;
      this.#sql.run('INSERT INTO scim_tokens (name, token_hash, created_at, expires_at, source) VALUES ($n, $h, $at, $exp, $s)', { n: name, h: tokenHash, at, exp: expiresAt, s: source });
      this.#appendAudit(audit);
    });
  }

  async tokens(): Promise<ScimTokenRecord[]> {
    return this.#sql.all<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM scim_tokens ORDER BY name`).map(toToken);
  }

  async revokeToken(name: string, at: number, audit: readonly AuditEvent[]): Promise<boolean> {
    return this.#sql.immediate(() => {
      if (this.#sql.run('UPDATE scim_tokens SET revoked_at = $at WHERE name = $n AND revoked_at IS NULL', { n: name, at }) === 0) return false;
      this.#sql.run(FORGET_REVOKED_SOURCE, { n: name });
      this.#appendAudit(audit);
      return true;
    });
  }

  async tokenByHash(tokenHash: string): Promise<ScimTokenRecord | undefined> {
    const row = this.#sql.get<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM scim_tokens WHERE token_hash = $h`, { h: tokenHash });
    return row && toToken(row);
  }

  async users(query: ScimUserQuery, slice: ScimSlice): Promise<{ total: number; users: UserRecord[] }> {
    const c = named(SCIM_VISIBLE_USERS, userConditions(query));
    const where = c.where;
    const total = this.#sql.get<{ n: number }>(`SELECT count(*) AS n FROM users WHERE ${where}`, c.params)?.n ?? 0;
    const users = slice.limit <= 0 ? [] : this.#sql.all<UserRow>(`SELECT * FROM users WHERE ${where} ORDER BY created_at, id LIMIT $limit OFFSET $offset`, { ...c.params, limit: slice.limit, offset: slice.offset });
    return { total, users: users.map(toUser) };
  }

  async hideUser(id: UserId, at: number, audit: readonly AuditEvent[]): Promise<boolean> {
    return this.#sql.immediate(() => {
      if (this.#sql.run('INSERT INTO scim_deleted_users (user_id, deleted_at) VALUES ($u, $at) ON CONFLICT (user_id) DO NOTHING', { u: id, at }) === 0) return false;
      this.#appendAudit(audit);
      return true;
    });
  }

  async showUser(id: UserId): Promise<void> {
    this.#sql.run('DELETE FROM scim_deleted_users WHERE user_id = $u', { u: id });
  }

  async groups(query: ScimGroupQuery, slice: ScimSlice): Promise<{ total: number; groups: ScimStoredGroup[] }> {
    const c = named('1 = 1', groupConditions(query));
    const where = c.where;
    const total = this.#sql.get<{ n: number }>(`SELECT count(*) AS n FROM scim_groups WHERE ${where}`, c.params)?.n ?? 0;
    const rows = slice.limit <= 0 ? [] : this.#sql.all<GroupRow>(`SELECT * FROM scim_groups WHERE ${where} ORDER BY created_at, id LIMIT $limit OFFSET $offset`, { ...c.params, limit: slice.limit, offset: slice.offset });
    return { total, groups: rows.map((r) => this.#toGroup(r)) };
  }

  async createGroup(group: NewScimGroup, by: ScimGroupWriter): Promise<ScimStoredGroup> {
    const { owner, source, at } = by;
    const checked: NewScimGroup = { displayName: checkedGroupName(group.displayName), externalId: checkedGroupExternalId(group.externalId), members: [...new Set(group.members)] };
    const id = randomUUID();
    return this.#sql.immediate(() => {
      this.#checkName(checked.displayName, null);
      this.#sql.run('INSERT INTO scim_groups (id, display_name, name_key, external_id, created_at, last_modified_at, owner) VALUES ($id, $n, $k, $e, $at, $at, $o)', {
        id, n: checked.displayName, k: groupNameKey(checked.displayName), e: checked.externalId, at, o: owner,
      });
      this.#addMembers(id, checked.members);
      this.#appendAudit([groupCreatedAudit(id, checked, source)]);
      this.#rolesOf([checked], by);
      return this.#written(id);
    });
  }

  async updateGroup(id: string, change: ScimGroupUpdate, by: ScimGroupWriter): Promise<ScimStoredGroup | null> {
    const { owner, source, at } = by;
    return this.#sql.immediate(() => {
      const current = this.#group(id, owner);
      if (!current) return null;
      const plan = planGroupUpdate(current, change, source);
      if (!plan.audit) return current;
      this.#checkName(plan.displayName, id);
      this.#sql.run('UPDATE scim_groups SET display_name = $n, name_key = $k, external_id = $e, last_modified_at = $at WHERE id = $id', {
        id, n: plan.displayName, k: groupNameKey(plan.displayName), e: plan.externalId, at,
      });
      for (const user of plan.removed) this.#sql.run('DELETE FROM scim_group_members WHERE group_id = $g AND user_id = $u', { g: id, u: user });
      this.#addMembers(id, plan.added);
      this.#appendAudit([plan.audit]);
      this.#rolesOf([current, plan], by);
      return this.#written(id);
    });
  }

  async deleteGroup(id: string, by: ScimGroupWriter): Promise<boolean> {
    return this.#sql.immediate(() => {
      const current = this.#group(id, by.owner);
      if (!current) return false;
      this.#sql.run('DELETE FROM scim_group_members WHERE group_id = $g', { g: id });
      this.#sql.run('DELETE FROM scim_groups WHERE id = $g', { g: id });
      this.#appendAudit([groupDeletedAudit(current, by.source)]);
      this.#rolesOf([current], by);
      return true;
    });
  }

  /** Inside the write's transaction: the roles mapped to the group as it stood before and after follow their groups. */
  #rolesOf(states: readonly GroupNames[], by: ScimGroupWriter): void {
    if (!by.roleGroups || by.source.kind !== 'scim') return;
    const actor = provisioningActor(by.source);
    for (const roleName of rolesOfGroups(by.roleGroups, states)) {
      const role = this.#sql.get<{ id: RoleId; name: string }>('SELECT id, name FROM oncall_roles WHERE name_key = $k', { k: roleNameKey(roleName) });
      if (!role) continue;
      const found = new Map(keysOfRole(by.roleGroups, roleName).map((key) => [key, this.#keyGroups(key, by.at)]));
      this.#roles.standingHoldersIn(role.id, 'scim', roleMembersFrom(found), { actor, at: by.at }, standingHoldersAudit(actor, role.name), MAX_ROLE_HOLDERS);
    }
  }

  async mappedGroups(keys: readonly string[], at: number): Promise<Map<string, ScimStoredGroup[]>> {
    return this.#sql.immediate(() => new Map(keys.map((key) => [key, this.#keyGroups(key, at)])));
  }

  /** Inside a transaction: the groups a map key counts, those of the source it is bound to (bound now when it is not). */
  #keyGroups(key: string, at: number): ScimStoredGroup[] {
    const rows = this.#sql.all<GroupRow>('SELECT * FROM scim_groups WHERE (name_key = $k OR external_id = $e) AND owner IS NOT NULL ORDER BY created_at, id', { k: groupNameKey(key), e: key });
    // Bound only while one source's groups match it: two sources' at the first look leave it unbound (it grants nothing).
    const owners = new Set(rows.map((r) => r.owner));
    const first = rows[0];
    if (first && owners.size === 1) this.#sql.run('INSERT INTO scim_role_keys (key, owner, bound_at) VALUES ($k, $o, $at) ON CONFLICT (key) DO NOTHING', { k: key, o: first.owner, at });
    const owner = this.#sql.get<{ owner: string }>('SELECT owner FROM scim_role_keys WHERE key = $k', { k: key })?.owner;
    return boundGroups(rows, owner).map((r) => this.#toGroup(r));
  }

  #checkName(displayName: string, except: string | null): void {
    const holder = this.#sql.get<{ id: string }>('SELECT id FROM scim_groups WHERE name_key = $k', { k: groupNameKey(displayName) });
    if (holder && holder.id !== except) throw new ScimGroupRefused('displayNameTaken', 'another group has this displayName');
  }

  #addMembers(groupId: string, members: readonly UserId[]): void {
    let seq = this.#sql.get<{ s: number | null }>('SELECT max(seq) AS s FROM scim_group_members WHERE group_id = $g', { g: groupId })?.s ?? 0;
    for (const user of members) {
      const account = this.#sql.get<{ status: string }>('SELECT status FROM users WHERE id = $u', { u: user });
      if (!account) throw new ScimGroupRefused('unknownMember', `no account ${user}`);
      // A deactivated account joins no group (its roles would come back with a reactivation): left out, not refused,
      // as a provider keeps disabled people in its groups and sends them with the rest.
      if (account.status === 'deactivated') continue;
      this.#sql.run('INSERT INTO scim_group_members (group_id, user_id, seq) VALUES ($g, $u, $s) ON CONFLICT DO NOTHING', { g: groupId, u: user, s: ++seq });
    }
  }

  /** A group this transaction just wrote. */
  #written(id: string): ScimStoredGroup {
    const group = this.#group(id);
    if (!group) throw new Error('a group written in this transaction is gone');
    return group;
  }

  /** With `owner`: that source's group only (another source's is absent). */
  #group(id: string, owner?: string): ScimStoredGroup | undefined {
    const row = owner === undefined
      ? this.#sql.get<GroupRow>('SELECT * FROM scim_groups WHERE id = $id', { id })
      : this.#sql.get<GroupRow>('SELECT * FROM scim_groups WHERE id = $id AND owner = $o', { id, o: owner });
    return row && this.#toGroup(row);
  }

  #toGroup(r: GroupRow): ScimStoredGroup {
    const members = this.#sql.pluck<string>('SELECT user_id FROM scim_group_members WHERE group_id = $g ORDER BY seq', { g: r.id }) as UserId[];
    return { id: r.id, displayName: r.display_name, externalId: r.external_id, members, createdAt: r.created_at, lastModifiedAt: r.last_modified_at };
  }
}
