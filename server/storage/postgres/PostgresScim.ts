/**
 * The PostgreSQL store's part of SCIM provisioning (ScimStore.ts): tokens by hash, the accounts SCIM deleted,
 * and SCIM's groups with their members, each mutation one transaction with its audit records. A group being
 * changed is locked for the transaction (FOR UPDATE), so two instances' changes to it apply one after the
 * other; two creating one name at once meet the unique index, and the second is refused as a taken name.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { UserId } from '../../../shared/ids';
import type { AuditEvent } from '../../audit/AuditRecord';
import { checkedGroupExternalId, checkedGroupName, groupCreatedAudit, groupDeletedAudit, groupNameKey, planGroupUpdate, ScimGroupRefused } from '../../directory/scimGroupChanges';
import { RelayFailure } from '../../RelayFailure';
import type { UserRecord } from '../RelayStore';
import { FORGET_REVOKED_SOURCE, type NewScimGroup, type ScimGroupQuery, type ScimGroupUpdate, type ScimGroupWriter, type ScimSlice, type ScimStore, type ScimStoredGroup, type ScimTokenRecord, type ScimUserQuery } from '../ScimStore';
import { roleNameKey } from '../roleRows';
import type { PostgresRoles } from './PostgresRoles';
import { MAX_ROLE_HOLDERS, type RoleId } from '../../../shared/wire/roles';
import { provisioningActor } from '../../directory/provisioning';
import { boundGroups, keysOfRole, roleMembersFrom, rolesOfGroups, standingHoldersAudit, type GroupNames } from '../../roles/scimRoleGroupWrites';
import { SCIM_VISIBLE_USERS, groupConditions, userConditions, whereClause } from '../scimQueries';
import type { PostgresDatabase, Queryable } from './PostgresDatabase';
import { nullableNumber } from './PostgresDevices';
import { toUser, type UserRow } from './PostgresDirectory';

interface TokenRow { name: string; created_at: string; revoked_at: string | null; expires_at: string; source: string | null }
interface GroupRow { id: string; display_name: string; external_id: string | null; created_at: string; last_modified_at: string; owner: string | null }

/** PostgreSQL's unique_violation. */
const UNIQUE_VIOLATION = '23505';
const TOKEN_COLUMNS = 'name, created_at, revoked_at, expires_at, source';
const toToken = (r: TokenRow): ScimTokenRecord => ({ name: r.name, createdAt: Number(r.created_at), revokedAt: nullableNumber(r.revoked_at), expiresAt: Number(r.expires_at), source: r.source ?? r.name });
const isUniqueViolation = (error: unknown, constraint: string) => (error as { code?: string }).code === UNIQUE_VIOLATION && (error as { constraint?: string }).constraint === constraint;

export class PostgresScim implements ScimStore {
  readonly #db: PostgresDatabase;
  readonly #appendAudit: (client: pg.PoolClient, events: readonly AuditEvent[]) => Promise<void>;

  readonly #roles: PostgresRoles;

  constructor(db: PostgresDatabase, appendAudit: (client: pg.PoolClient, events: readonly AuditEvent[]) => Promise<void>, roles: PostgresRoles) {
    this.#db = db;
    this.#appendAudit = appendAudit;
    this.#roles = roles;
  }

  async createToken(name: string, tokenHash: string, at: number, expiresAt: number, audit: readonly AuditEvent[], replaces?: string): Promise<void> {
    try {
      await this.#db.transaction(async (client) => {
        const source = replaces === undefined ? name : (await client.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM scim_tokens WHERE name = $1`, [replaces])).rows.map(toToken)[0]?.source;
        if (source === undefined) throw new RelayFailure('NOT_FOUND', `no SCIM token named ${replaces ?? name} to replace`);
        await client.query('INSERT INTO scim_tokens (name, token_hash, created_at, expires_at, source) VALUES ($1, $2, $3, $4, $5)', [name, tokenHash, at, expiresAt, source]);
        await this.#appendAudit(client, audit);
      });
    } catch (error) {
      if (isUniqueViolation(error, 'scim_tokens_pkey')) throw new RelayFailure('BAD_REQUEST', `a SCIM token named ${name} exists already`);
      throw error;
    }
  }

  async tokens(): Promise<ScimTokenRecord[]> {
    return (await this.#db.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM scim_tokens ORDER BY name COLLATE "C"`)).rows.map(toToken);
  }

  async revokeToken(name: string, at: number, audit: readonly AuditEvent[]): Promise<boolean> {
    return this.#db.transaction(async (client) => {
      const revoked = await client.query('UPDATE scim_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL', [name, at]);
      if (revoked.rowCount !== 1) return false;
      await client.query(FORGET_REVOKED_SOURCE.replaceAll('$n', '$1'), [name]);
      await this.#appendAudit(client, audit);
      return true;
    });
  }

  async tokenByHash(tokenHash: string): Promise<ScimTokenRecord | undefined> {
    const row = (await this.#db.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM scim_tokens WHERE token_hash = $1`, [tokenHash])).rows[0];
    return row && toToken(row);
  }

  async users(query: ScimUserQuery, slice: ScimSlice): Promise<{ total: number; users: UserRecord[] }> {
    const c = whereClause(SCIM_VISIBLE_USERS, userConditions(query), (i) => `$${i + 1}`);
    const where = c.where;
    const total = Number((await this.#db.query<{ n: string }>(`SELECT count(*) AS n FROM users WHERE ${where}`, c.values)).rows[0]?.n ?? 0);
    const n = c.values.length;
    const users = slice.limit <= 0 ? [] : (await this.#db.query<UserRow>(`SELECT * FROM users WHERE ${where} ORDER BY created_at, id COLLATE "C" LIMIT $${n + 1} OFFSET $${n + 2}`, [...c.values, slice.limit, slice.offset])).rows;
    return { total, users: users.map(toUser) };
  }

  async hideUser(id: UserId, at: number, audit: readonly AuditEvent[]): Promise<boolean> {
    return this.#db.transaction(async (client) => {
      const hidden = await client.query('INSERT INTO scim_deleted_users (user_id, deleted_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING', [id, at]);
      if (hidden.rowCount !== 1) return false;
      await this.#appendAudit(client, audit);
      return true;
    });
  }

  async showUser(id: UserId): Promise<void> {
    await this.#db.query('DELETE FROM scim_deleted_users WHERE user_id = $1', [id]);
  }

  async groups(query: ScimGroupQuery, slice: ScimSlice): Promise<{ total: number; groups: ScimStoredGroup[] }> {
    const c = whereClause('TRUE', groupConditions(query), (i) => `$${i + 1}`);
    const where = c.where;
    const total = Number((await this.#db.query<{ n: string }>(`SELECT count(*) AS n FROM scim_groups WHERE ${where}`, c.values)).rows[0]?.n ?? 0);
    const n = c.values.length;
    const rows = slice.limit <= 0 ? [] : (await this.#db.query<GroupRow>(`SELECT * FROM scim_groups WHERE ${where} ORDER BY created_at, id COLLATE "C" LIMIT $${n + 1} OFFSET $${n + 2}`, [...c.values, slice.limit, slice.offset])).rows;
    return { total, groups: await this.#withMembers(this.#db, rows) };
  }

  async createGroup(group: NewScimGroup, by: ScimGroupWriter): Promise<ScimStoredGroup> {
    const { owner, source, at } = by;
    const checked: NewScimGroup = { displayName: checkedGroupName(group.displayName), externalId: checkedGroupExternalId(group.externalId), members: [...new Set(group.members)] };
    const id = randomUUID();
    return this.#named(() => this.#db.transaction(async (client) => {
      await client.query('INSERT INTO scim_groups (id, display_name, name_key, external_id, created_at, last_modified_at, owner) VALUES ($1, $2, $3, $4, $5, $5, $6)', [
        id, checked.displayName, groupNameKey(checked.displayName), checked.externalId, at, owner,
      ]);
      await this.#addMembers(client, id, checked.members);
      const roles = await this.#lockRoles(client, [checked], by);
      await this.#appendAudit(client, [groupCreatedAudit(id, checked, source)]);
      await this.#rolesOf(client, roles, by);
      return this.#written(client, id);
    }));
  }

  async updateGroup(id: string, change: ScimGroupUpdate, by: ScimGroupWriter): Promise<ScimStoredGroup | null> {
    const { owner, source, at } = by;
    return this.#named(() => this.#db.transaction(async (client) => {
      const current = await this.#group(client, id, owner);
      if (!current) return null;
      const plan = planGroupUpdate(current, change, source);
      if (!plan.audit) return current;
      await client.query('UPDATE scim_groups SET display_name = $2, name_key = $3, external_id = $4, last_modified_at = $5 WHERE id = $1', [id, plan.displayName, groupNameKey(plan.displayName), plan.externalId, at]);
      if (plan.removed.length > 0) await client.query('DELETE FROM scim_group_members WHERE group_id = $1 AND user_id = ANY($2)', [id, [...plan.removed]]);
      await this.#addMembers(client, id, plan.added);
      const roles = await this.#lockRoles(client, [current, plan], by);
      await this.#appendAudit(client, [plan.audit]);
      await this.#rolesOf(client, roles, by);
      return this.#written(client, id);
    }));
  }

  async deleteGroup(id: string, by: ScimGroupWriter): Promise<boolean> {
    return this.#db.transaction(async (client) => {
      const current = await this.#group(client, id, by.owner);
      if (!current) return false;
      const roles = await this.#lockRoles(client, [current], by);
      await client.query('DELETE FROM scim_groups WHERE id = $1', [id]);
      await this.#appendAudit(client, [groupDeletedAudit(current, by.source)]);
      await this.#rolesOf(client, roles, by);
      return true;
    });
  }

  /**
   * Inside the write's transaction, after its members' accounts (FOR SHARE, #addMembers: as a deactivation takes the
   * account before the shifts) and before it appends to the audit log: locks the roles mapped to
   * the group as it stands before and after the write, in order of id. So two writes feeding one role read its groups
   * one after the other (the second sees the first's members, never a snapshot from before it), and the locks are
   * taken in one order everywhere: role rows (by id) before the audit log's, as the role store's own writes take them.
   */
  async #lockRoles(client: pg.PoolClient, states: readonly GroupNames[], by: ScimGroupWriter): Promise<readonly { id: RoleId; name: string }[]> {
    if (!by.roleGroups || by.source.kind !== 'scim') return [];
    const keys = rolesOfGroups(by.roleGroups, states).map(roleNameKey);
    if (keys.length === 0) return [];
    return (await client.query<{ id: RoleId; name: string }>('SELECT id, name FROM oncall_roles WHERE name_key = ANY($1) ORDER BY id COLLATE "C" FOR UPDATE', [keys])).rows;
  }

  /** Inside the write's transaction, after it: the roles #lockRoles locked follow their groups as they stand now. */
  async #rolesOf(client: pg.PoolClient, roles: readonly { id: RoleId; name: string }[], by: ScimGroupWriter): Promise<void> {
    if (!by.roleGroups || by.source.kind !== 'scim') return;
    const actor = provisioningActor(by.source);
    for (const role of roles) {
      const found = new Map<string, ScimStoredGroup[]>();
      for (const key of keysOfRole(by.roleGroups, role.name)) found.set(key, await this.#keyGroups(client, key, by.at));
      await this.#roles.standingHoldersIn(client, role.id, 'scim', roleMembersFrom(found), { actor, at: by.at }, standingHoldersAudit(actor, role.name), MAX_ROLE_HOLDERS);
    }
  }

  async mappedGroups(keys: readonly string[], at: number): Promise<Map<string, ScimStoredGroup[]>> {
    return this.#db.transaction(async (client) => {
      const found = new Map<string, ScimStoredGroup[]>();
      for (const key of keys) found.set(key, await this.#keyGroups(client, key, at));
      return found;
    });
  }

  /**
   * Inside a transaction: the groups a map key counts, those of the source it is bound to (bound now when it is not;
   * of two transactions binding one key at once, the second waits on the key's row and then reads the first's).
   */
  async #keyGroups(client: pg.PoolClient, key: string, at: number): Promise<ScimStoredGroup[]> {
    const rows = (await client.query<GroupRow>('SELECT * FROM scim_groups WHERE (name_key = $1 OR external_id = $2) AND owner IS NOT NULL ORDER BY created_at, id COLLATE "C"', [groupNameKey(key), key])).rows;
    // Bound only while one source's groups match it: two sources' at the first look leave it unbound (it grants nothing).
    const owners = new Set(rows.map((r) => r.owner));
    const first = rows[0];
    if (first && owners.size === 1) await client.query('INSERT INTO scim_role_keys (key, owner, bound_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING', [key, first.owner, at]);
    const owner = (await client.query<{ owner: string }>('SELECT owner FROM scim_role_keys WHERE key = $1', [key])).rows[0]?.owner;
    return this.#withMembers(client, boundGroups(rows, owner));
  }

  /** Runs a group write; the unique index on the name refusing it is told as a taken name. */
  async #named<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (isUniqueViolation(error, 'scim_groups_name_key_key')) throw new ScimGroupRefused('displayNameTaken', 'another group has this displayName');
      throw error;
    }
  }

  async #addMembers(client: pg.PoolClient, groupId: string, members: readonly UserId[]): Promise<void> {
    if (members.length === 0) return;
    // FOR SHARE: a deactivation of a member waits for this write, and then takes the account out of the group.
    const status = new Map((await client.query<{ id: string; status: string }>('SELECT id, status FROM users WHERE id = ANY($1) ORDER BY id COLLATE "C" FOR SHARE', [[...members]])).rows.map((r) => [r.id, r.status]));
    const unknown = members.find((m) => !status.has(m));
    if (unknown !== undefined) throw new ScimGroupRefused('unknownMember', `no account ${unknown}`);
    // A deactivated account joins no group (its roles would come back with a reactivation): left out, not refused,
    // as a provider keeps disabled people in its groups and sends them with the rest.
    const joining = members.filter((m) => status.get(m) !== 'deactivated');
    if (joining.length === 0) return;
    await client.query(
      `INSERT INTO scim_group_members (group_id, user_id, seq)
       SELECT $1, m.id, (SELECT coalesce(max(seq), 0) FROM scim_group_members WHERE group_id = $1) + m.n
       FROM unnest($2::text[]) WITH ORDINALITY AS m(id, n) ON CONFLICT DO NOTHING`,
      [groupId, joining],
    );
  }

  /** A group this transaction just wrote. */
  async #written(client: pg.PoolClient, id: string): Promise<ScimStoredGroup> {
    const group = await this.#group(client, id);
    if (!group) throw new Error('a group written in this transaction is gone');
    return group;
  }

  /** With `owner`: that source's group only, locked for the transaction (another source's is absent). */
  async #group(on: Queryable, id: string, owner?: string): Promise<ScimStoredGroup | undefined> {
    const row = (owner === undefined
      ? await on.query<GroupRow>('SELECT * FROM scim_groups WHERE id = $1', [id])
      : await on.query<GroupRow>('SELECT * FROM scim_groups WHERE id = $1 AND owner = $2 FOR UPDATE', [id, owner])).rows[0];
    return row && (await this.#withMembers(on, [row]))[0];
  }

  async #withMembers(on: Queryable, rows: readonly GroupRow[]): Promise<ScimStoredGroup[]> {
    const members = new Map<string, UserId[]>(rows.map((r) => [r.id, []]));
    if (rows.length > 0) {
      const found = await on.query<{ group_id: string; user_id: string }>('SELECT group_id, user_id FROM scim_group_members WHERE group_id = ANY($1) ORDER BY group_id, seq', [rows.map((r) => r.id)]);
      for (const m of found.rows) members.get(m.group_id)?.push(m.user_id as UserId);
    }
    return rows.map((r) => ({ id: r.id, displayName: r.display_name, externalId: r.external_id, members: members.get(r.id) ?? [], createdAt: Number(r.created_at), lastModifiedAt: Number(r.last_modified_at) }));
  }
}
