/**
 * The PostgreSQL store's on-call roles (RoleStore.ts): roles, their shifts and the scheduler permission, each
 * mutation one transaction with its audit records. A role being changed, or getting shifts, is locked for the
 * transaction (FOR UPDATE), so two instances' changes to it apply one after the other; two creating one name
 * at once meet the unique index, and the second is refused as a taken name.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { UserId } from '../../../shared/ids';
import { STANDING_SHIFT_END, type RoleId } from '../../../shared/wire/roles';
import type { AuditEvent } from '../../audit/AuditRecord';
import { RelayFailure } from '../../RelayFailure';
import { patchedRole, planStandingHolders, roleColumns, roleNameKey, toRole, toShift, type RoleRow, type ShiftRow } from '../roleRows';
import type { DirectoryShiftSource, NewRole, NewShift, RolePatch, RoleRecord, RoleStore, ScheduleReplacement, ShiftProvenance, ShiftRecord, StandingHoldersChange } from '../RoleStore';
import type { PostgresDatabase, Queryable } from './PostgresDatabase';
import { vacatedShiftsAudit } from '../vacatedShifts';

const UNIQUE_VIOLATION = '23505';
const takenName = (error: unknown) => (error as { code?: string }).code === UNIQUE_VIOLATION && (error as { constraint?: string }).constraint === 'oncall_roles_name_key_key';

export class PostgresRoles implements RoleStore {
  readonly #db: PostgresDatabase;
  readonly #appendAudit: (client: pg.PoolClient, events: readonly AuditEvent[]) => Promise<void>;

  constructor(db: PostgresDatabase, appendAudit: (client: pg.PoolClient, events: readonly AuditEvent[]) => Promise<void>) {
    this.#db = db;
    this.#appendAudit = appendAudit;
  }

  async createRole(role: NewRole, at: number, audit: readonly AuditEvent[]): Promise<RoleRecord> {
    return this.#namedRole(role.name, () => this.#db.transaction(async (client) => {
      await checkRole(client, role.id, role);
      const c = roleColumns(role);
      await client.query(
        `INSERT INTO oncall_roles (id, name, name_key, department, time_zone, backup_user_id, backup_role_id, search_text, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
        [role.id, c.name, c.nameKey, c.department, c.timeZone, c.backupUser, c.backupRole, c.search, at],
      );
      await this.#appendAudit(client, audit);
      return { ...role, createdAt: at, updatedAt: at };
    }));
  }

  async updateRole(id: RoleId, patch: RolePatch, at: number, audit: readonly AuditEvent[]): Promise<RoleRecord | undefined> {
    return this.#namedRole(patch.name ?? '', () => this.#db.transaction(async (client) => {
      const row = (await client.query<RoleRow>('SELECT * FROM oncall_roles WHERE id = $1 FOR UPDATE', [id])).rows[0];
      if (!row) return undefined;
      const next = patchedRole(toRole(row), patch, at);
      await checkRole(client, id, next);
      const c = roleColumns(next);
      await client.query(
        `UPDATE oncall_roles SET name = $2, name_key = $3, department = $4, time_zone = $5, backup_user_id = $6, backup_role_id = $7, search_text = $8, updated_at = $9 WHERE id = $1`,
        [id, c.name, c.nameKey, c.department, c.timeZone, c.backupUser, c.backupRole, c.search, at],
      );
      await this.#appendAudit(client, audit);
      return next;
    }));
  }

  async #namedRole<T>(name: string, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (takenName(error)) throw new RelayFailure('BAD_REQUEST', `a role named ${name} exists already`);
      throw error;
    }
  }

  async roleById(id: RoleId): Promise<RoleRecord | undefined> {
    const row = (await this.#db.query<RoleRow>('SELECT * FROM oncall_roles WHERE id = $1', [id])).rows[0];
    return row && toRole(row);
  }

  async roleByName(name: string): Promise<RoleRecord | undefined> {
    const row = (await this.#db.query<RoleRow>('SELECT * FROM oncall_roles WHERE name_key = $1', [roleNameKey(name)])).rows[0];
    return row && toRole(row);
  }

  async listRoles(): Promise<RoleRecord[]> {
    return (await this.#db.query<RoleRow>('SELECT * FROM oncall_roles ORDER BY name_key COLLATE "C", id COLLATE "C"')).rows.map(toRole);
  }

  async searchRoles(query: string, limit: number): Promise<RoleRecord[]> {
    return (await this.#db.query<RoleRow>('SELECT * FROM oncall_roles WHERE strpos(search_text, $1) > 0 ORDER BY name_key COLLATE "C", id COLLATE "C" LIMIT $2', [roleNameKey(query), limit])).rows.map(toRole);
  }

  async shifts(roleId: RoleId, from: number, to: number): Promise<ShiftRecord[]> {
    return (await this.#db.query<ShiftRow>('SELECT * FROM oncall_shifts WHERE role_id = $1 AND starts_at < $3 AND ends_at > $2 ORDER BY starts_at, user_id COLLATE "C", id COLLATE "C"', [roleId, from, to])).rows.map(toShift);
  }

  async shiftById(roleId: RoleId, shiftId: string): Promise<ShiftRecord | undefined> {
    const row = (await this.#db.query<ShiftRow>('SELECT * FROM oncall_shifts WHERE role_id = $1 AND id = $2', [roleId, shiftId])).rows[0];
    return row && toShift(row);
  }

  async addShifts(roleId: RoleId, shifts: readonly NewShift[], provenance: ShiftProvenance, audit: (added: readonly ShiftRecord[]) => readonly AuditEvent[]): Promise<ShiftRecord[]> {
    return this.#db.transaction(async (client) => {
      await lockRole(client, roleId);
      const added = await insertShifts(client, roleId, shifts, provenance);
      await this.#appendAudit(client, audit(added));
      return added;
    });
  }

  async replaceShifts(roleId: RoleId, span: { from: number; to: number }, shifts: readonly NewShift[], provenance: ShiftProvenance, audit: (done: ScheduleReplacement) => readonly AuditEvent[]): Promise<ScheduleReplacement> {
    return this.#db.transaction(async (client) => {
      await lockRole(client, roleId);
      const removed = (await client.query("DELETE FROM oncall_shifts WHERE role_id = $1 AND starts_at >= $2 AND starts_at < $3 AND source NOT IN ('scim', 'ldap')", [roleId, span.from, span.to])).rowCount ?? 0;
      const done = { added: await insertShifts(client, roleId, shifts, provenance), removed };
      await this.#appendAudit(client, audit(done));
      return done;
    });
  }

  async setStandingHolders(roleId: RoleId, source: DirectoryShiftSource, userIds: readonly UserId[], { actor, at }: Omit<ShiftProvenance, 'source'>, audit: (change: StandingHoldersChange) => readonly AuditEvent[]): Promise<StandingHoldersChange> {
    return this.#db.transaction(async (client) => this.standingHoldersIn(client, roleId, source, userIds, { actor, at }, audit));
  }

  /** Inside a transaction of the caller's (a SCIM group write): setStandingHolders on its client, `cap` as planStandingHolders'. */
  async standingHoldersIn(client: pg.PoolClient, roleId: RoleId, source: DirectoryShiftSource, userIds: readonly UserId[], { actor, at }: Omit<ShiftProvenance, 'source'>, audit: (change: StandingHoldersChange) => readonly AuditEvent[], cap?: number): Promise<StandingHoldersChange> {
    await lockRole(client, roleId);
    const current = (await client.query<ShiftRow>('SELECT * FROM oncall_shifts WHERE role_id = $1 AND source = $2 AND ends_at = $3 ORDER BY user_id COLLATE "C"', [roleId, source, STANDING_SHIFT_END])).rows.map(toShift);
    const active = (await client.query<{ id: string }>("SELECT id FROM users WHERE id = ANY($1::text[]) AND status <> 'deactivated' AND role = 'clinician'", [[...userIds]])).rows.map((r) => r.id as UserId);
    const plan = planStandingHolders(current, active, at, cap);
    for (const shift of plan.ended) {
      if (shift.startsAt >= at) await client.query('DELETE FROM oncall_shifts WHERE id = $1', [shift.id]);
      else await client.query('UPDATE oncall_shifts SET ends_at = $2 WHERE id = $1', [shift.id, at]);
    }
    const change = { added: await insertShifts(client, roleId, plan.add, { source, actor, at }), ended: plan.ended };
    if (change.added.length + change.ended.length > 0) await this.#appendAudit(client, audit(change));
    return change;
  }

  async removeShift(roleId: RoleId, shiftId: string, audit: (removed: ShiftRecord) => readonly AuditEvent[]): Promise<boolean> {
    return this.#db.transaction(async (client) => {
      const row = (await client.query<ShiftRow>('DELETE FROM oncall_shifts WHERE role_id = $1 AND id = $2 RETURNING *', [roleId, shiftId])).rows[0];
      if (!row) return false;
      await this.#appendAudit(client, audit(toShift(row)));
      return true;
    });
  }

  /**
   * Inside the deactivation's transaction (the account's row locked by it): takes the account off every rota
   * from `at` (vacatedShifts.ts), with its audit record.
   */
  async vacateIn(client: pg.PoolClient, userId: UserId, at: number): Promise<void> {
    const roles = await client.query<{ name: string }>(
      'SELECT DISTINCT r.name FROM oncall_shifts s JOIN oncall_roles r ON r.id = s.role_id WHERE s.user_id = $1 AND s.ends_at > $2 ORDER BY r.name', [userId, at],
    );
    const removed = await client.query('DELETE FROM oncall_shifts WHERE user_id = $1 AND starts_at >= $2', [userId, at]);
    const ended = await client.query('UPDATE oncall_shifts SET ends_at = $2 WHERE user_id = $1 AND starts_at < $2 AND ends_at > $2', [userId, at]);
    const audit = vacatedShiftsAudit(userId, { removed: removed.rowCount ?? 0, ended: ended.rowCount ?? 0, roles: roles.rows.map((r) => r.name) });
    if (audit) await this.#appendAudit(client, [audit]);
  }

  async grantScheduler(userId: UserId, actor: string, at: number, audit: readonly AuditEvent[]): Promise<boolean> {
    return this.#db.transaction(async (client) => {
      const granted = await client.query('INSERT INTO oncall_schedulers (user_id, granted_at, granted_by) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING', [userId, at, actor]);
      if (granted.rowCount !== 1) return false;
      await this.#appendAudit(client, audit);
      return true;
    });
  }

  async revokeScheduler(userId: UserId, audit: readonly AuditEvent[]): Promise<boolean> {
    return this.#db.transaction(async (client) => {
      if ((await client.query('DELETE FROM oncall_schedulers WHERE user_id = $1', [userId])).rowCount !== 1) return false;
      await this.#appendAudit(client, audit);
      return true;
    });
  }

  async isScheduler(userId: UserId): Promise<boolean> {
    return (await this.#db.query('SELECT 1 FROM oncall_schedulers WHERE user_id = $1', [userId])).rows.length > 0;
  }

  async schedulers(): Promise<UserId[]> {
    return (await this.#db.query<{ user_id: string }>('SELECT user_id FROM oncall_schedulers ORDER BY user_id COLLATE "C"')).rows.map((r) => r.user_id as UserId);
  }
}

async function lockRole(client: Queryable, roleId: RoleId): Promise<void> {
  if ((await client.query('SELECT 1 FROM oncall_roles WHERE id = $1 FOR UPDATE', [roleId])).rows.length === 0) throw new RelayFailure('NOT_FOUND', 'no such role');
}

/** Inside a transaction: the name free (any case), the backup an account or another role, and no loop of backups. */
async function checkRole(client: Queryable, id: RoleId, role: Pick<RoleRecord, 'name' | 'backup'>): Promise<void> {
  if ((await client.query('SELECT 1 FROM oncall_roles WHERE name_key = $1 AND id <> $2', [roleNameKey(role.name), id])).rows.length > 0) throw new RelayFailure('BAD_REQUEST', `a role named ${role.name} exists already`);
  const backup = role.backup;
  if (backup?.kind === 'user' && (await client.query("SELECT 1 FROM users WHERE id = $1 AND status <> 'deactivated'", [backup.userId])).rows.length === 0) throw new RelayFailure('BAD_REQUEST', 'the backup is not an active account');
  if (backup?.kind === 'role') {
    for (let next: string | null = backup.roleId, hops = 0; next !== null; hops++) {
      if (next === id || hops > 50) throw new RelayFailure('BAD_REQUEST', 'a role cannot back itself up, even through other roles');
      const row: { backup_role_id: string | null } | undefined = (await client.query<{ backup_role_id: string | null }>('SELECT backup_role_id FROM oncall_roles WHERE id = $1', [next])).rows[0];
      if (!row) throw new RelayFailure('BAD_REQUEST', 'the backup role does not exist');
      next = row.backup_role_id;
    }
  }
}

async function insertShifts(client: Queryable, roleId: RoleId, shifts: readonly NewShift[], { source, actor, at }: ShiftProvenance): Promise<ShiftRecord[]> {
  const added: ShiftRecord[] = [];
  for (const s of shifts) {
    // FOR SHARE: a deactivation of the account waits for this shift to be in, and then removes it (vacateIn).
    if ((await client.query("SELECT 1 FROM users WHERE id = $1 AND status <> 'deactivated' FOR SHARE", [s.userId])).rows.length === 0) throw new RelayFailure('BAD_REQUEST', `account ${s.userId} cannot hold a role (no such active account)`);
    const shift: ShiftRecord = { id: randomUUID(), roleId, userId: s.userId, startsAt: s.startsAt, endsAt: s.endsAt, source, createdAt: at, createdBy: actor };
    await client.query('INSERT INTO oncall_shifts (id, role_id, user_id, starts_at, ends_at, source, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [shift.id, roleId, s.userId, s.startsAt, s.endsAt, source, at, actor]);
    added.push(shift);
  }
  return added;
}
