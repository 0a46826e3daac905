/**
 * The embedded store's on-call roles (RoleStore.ts): roles, their shifts and the scheduler permission, each
 * mutation one IMMEDIATE transaction with its audit records.
 */
import { randomUUID } from 'node:crypto';
import type { UserId } from '../../../shared/ids';
import { STANDING_SHIFT_END, type RoleId } from '../../../shared/wire/roles';
import type { AuditEvent } from '../../audit/AuditRecord';
import { RelayFailure } from '../../RelayFailure';
import { patchedRole, planStandingHolders, roleColumns, roleNameKey, toRole, toShift, type RoleRow, type ShiftRow } from '../roleRows';
import type { DirectoryShiftSource, NewRole, NewShift, RolePatch, RoleRecord, RoleStore, ScheduleReplacement, ShiftProvenance, ShiftRecord, StandingHoldersChange } from '../RoleStore';
import type { SqliteDatabase } from './SqliteDatabase';
import { vacatedShiftsAudit } from '../vacatedShifts';

export class SqliteRoles implements RoleStore {
  readonly #sql: SqliteDatabase;
  readonly #appendAudit: (events: readonly AuditEvent[]) => void;

  constructor(sql: SqliteDatabase, appendAudit: (events: readonly AuditEvent[]) => void) {
    this.#sql = sql;
    this.#appendAudit = appendAudit;
  }

  async createRole(role: NewRole, at: number, audit: readonly AuditEvent[]): Promise<RoleRecord> {
    return this.#sql.immediate(() => {
      this.#checkRole(role.id, role);
      this.#sql.run(
        `INSERT INTO oncall_roles (id, name, name_key, department, time_zone, backup_user_id, backup_role_id, search_text, created_at, updated_at)
         VALUES ($id, $name, $nameKey, $department, $timeZone, $backupUser, $backupRole, $search, $at, $at)`,
        { id: role.id, ...roleColumns(role), at },
      );
      this.#appendAudit(audit);
      return { ...role, createdAt: at, updatedAt: at };
    });
  }

  async updateRole(id: RoleId, patch: RolePatch, at: number, audit: readonly AuditEvent[]): Promise<RoleRecord | undefined> {
    return this.#sql.immediate(() => {
      const row = this.#sql.get<RoleRow>('SELECT * FROM oncall_roles WHERE id = $id', { id });
      if (!row) return undefined;
      const next = patchedRole(toRole(row), patch, at);
      this.#checkRole(id, next);
      this.#sql.run(
        `UPDATE oncall_roles SET name = $name, name_key = $nameKey, department = $department, time_zone = $timeZone, backup_user_id = $backupUser,
           backup_role_id = $backupRole, search_text = $search, updated_at = $at WHERE id = $id`,
        { id, ...roleColumns(next), at },
      );
      this.#appendAudit(audit);
      return next;
    });
  }

  /** Inside a transaction: the name free (any case), the backup an account or another role, and no loop of backups. */
  #checkRole(id: RoleId, role: Pick<RoleRecord, 'name' | 'backup'>): void {
    if (this.#sql.get('SELECT 1 FROM oncall_roles WHERE name_key = $k AND id <> $id', { k: roleNameKey(role.name), id })) throw new RelayFailure('BAD_REQUEST', `a role named ${role.name} exists already`);
    const backup = role.backup;
    if (backup?.kind === 'user' && !this.#sql.get("SELECT 1 FROM users WHERE id = $u AND status <> 'deactivated'", { u: backup.userId })) throw new RelayFailure('BAD_REQUEST', 'the backup is not an active account');
    if (backup?.kind === 'role') {
      for (let next: string | null = backup.roleId, hops = 0; next !== null; hops++) {
        if (next === id || hops > 50) throw new RelayFailure('BAD_REQUEST', 'a role cannot back itself up, even through other roles');
        const row: { backup_role_id: string | null } | undefined = this.#sql.get('SELECT backup_role_id FROM oncall_roles WHERE id = $id', { id: next });
        if (!row) throw new RelayFailure('BAD_REQUEST', 'the backup role does not exist');
        next = row.backup_role_id;
      }
    }
  }

  async roleById(id: RoleId): Promise<RoleRecord | undefined> {
    const row = this.#sql.get<RoleRow>('SELECT * FROM oncall_roles WHERE id = $id', { id });
    return row && toRole(row);
  }

  async roleByName(name: string): Promise<RoleRecord | undefined> {
    const row = this.#sql.get<RoleRow>('SELECT * FROM oncall_roles WHERE name_key = $k', { k: roleNameKey(name) });
    return row && toRole(row);
  }

  async listRoles(): Promise<RoleRecord[]> {
    return this.#sql.all<RoleRow>('SELECT * FROM oncall_roles ORDER BY name_key, id').map(toRole);
  }

  async searchRoles(query: string, limit: number): Promise<RoleRecord[]> {
    return this.#sql.all<RoleRow>('SELECT * FROM oncall_roles WHERE instr(search_text, $q) > 0 ORDER BY name_key, id LIMIT $limit', { q: roleNameKey(query), limit }).map(toRole);
  }

  async shifts(roleId: RoleId, from: number, to: number): Promise<ShiftRecord[]> {
    return this.#sql.all<ShiftRow>('SELECT * FROM oncall_shifts WHERE role_id = $r AND starts_at < $to AND ends_at > $from ORDER BY starts_at, user_id, id', { r: roleId, from, to }).map(toShift);
  }

  async shiftById(roleId: RoleId, shiftId: string): Promise<ShiftRecord | undefined> {
    const row = this.#sql.get<ShiftRow>('SELECT * FROM oncall_shifts WHERE role_id = $r AND id = $id', { r: roleId, id: shiftId });
    return row && toShift(row);
  }

  async addShifts(roleId: RoleId, shifts: readonly NewShift[], provenance: ShiftProvenance, audit: (added: readonly ShiftRecord[]) => readonly AuditEvent[]): Promise<ShiftRecord[]> {
    return this.#sql.immediate(() => {
      const added = this.#insertShifts(roleId, shifts, provenance);
      this.#appendAudit(audit(added));
      return added;
    });
  }

  async replaceShifts(roleId: RoleId, span: { from: number; to: number }, shifts: readonly NewShift[], provenance: ShiftProvenance, audit: (done: ScheduleReplacement) => readonly AuditEvent[]): Promise<ScheduleReplacement> {
    return this.#sql.immediate(() => {
      if (!this.#sql.get('SELECT 1 FROM oncall_roles WHERE id = $r', { r: roleId })) throw new RelayFailure('NOT_FOUND', 'no such role');
      const removed = this.#sql.run("DELETE FROM oncall_shifts WHERE role_id = $r AND starts_at >= $from AND starts_at < $to AND source NOT IN ('scim', 'ldap')", { r: roleId, ...span });
      const done = { added: this.#insertShifts(roleId, shifts, provenance), removed };
      this.#appendAudit(audit(done));
      return done;
    });
  }

  #insertShifts(roleId: RoleId, shifts: readonly NewShift[], { source, actor, at }: ShiftProvenance): ShiftRecord[] {
    if (!this.#sql.get('SELECT 1 FROM oncall_roles WHERE id = $r', { r: roleId })) throw new RelayFailure('NOT_FOUND', 'no such role');
    return shifts.map((s) => {
      if (!this.#sql.get("SELECT 1 FROM users WHERE id = $u AND status <> 'deactivated'", { u: s.userId })) throw new RelayFailure('BAD_REQUEST', `account ${s.userId} cannot hold a role (no such active account)`);
      const shift: ShiftRecord = { id: randomUUID(), roleId, userId: s.userId, startsAt: s.startsAt, endsAt: s.endsAt, source, createdAt: at, createdBy: actor };
      this.#sql.run(
        'INSERT INTO oncall_shifts (id, role_id, user_id, starts_at, ends_at, source, created_at, created_by) VALUES ($id, $r, $u, $s, $e, $source, $at, $by)',
        { id: shift.id, r: roleId, u: s.userId, s: s.startsAt, e: s.endsAt, source, at, by: actor },
      );
      return shift;
    });
  }

  async setStandingHolders(roleId: RoleId, source: DirectoryShiftSource, userIds: readonly UserId[], { actor, at }: Omit<ShiftProvenance, 'source'>, audit: (change: StandingHoldersChange) => readonly AuditEvent[]): Promise<StandingHoldersChange> {
    return this.#sql.immediate(() => {
      if (!this.#sql.get('SELECT 1 FROM oncall_roles WHERE id = $r', { r: roleId })) throw new RelayFailure('NOT_FOUND', 'no such role');
      return this.standingHoldersIn(roleId, source, userIds, { actor, at }, audit);
    });
  }

  /** Inside a transaction of the caller's (a SCIM group write): setStandingHolders of a role that exists, `cap` as planStandingHolders'. */
  standingHoldersIn(roleId: RoleId, source: DirectoryShiftSource, userIds: readonly UserId[], { actor, at }: Omit<ShiftProvenance, 'source'>, audit: (change: StandingHoldersChange) => readonly AuditEvent[], cap?: number): StandingHoldersChange {
    const current = this.#sql.all<ShiftRow>('SELECT * FROM oncall_shifts WHERE role_id = $r AND source = $s AND ends_at = $end ORDER BY user_id', { r: roleId, s: source, end: STANDING_SHIFT_END }).map(toShift);
    // Only active clinicians: an admin or compliance account put in a group never receives a role's messages.
    const active = userIds.filter((u) => this.#sql.get("SELECT 1 FROM users WHERE id = $u AND status <> 'deactivated' AND role = 'clinician'", { u }));
    const plan = planStandingHolders(current, active, at, cap);
    for (const shift of plan.ended) {
      if (shift.startsAt >= at) this.#sql.run('DELETE FROM oncall_shifts WHERE id = $id', { id: shift.id });
      else this.#sql.run('UPDATE oncall_shifts SET ends_at = $at WHERE id = $id', { id: shift.id, at });
    }
    const change = { added: this.#insertShifts(roleId, plan.add, { source, actor, at }), ended: plan.ended };
    if (change.added.length + change.ended.length > 0) this.#appendAudit(audit(change));
    return change;
  }

  async removeShift(roleId: RoleId, shiftId: string, audit: (removed: ShiftRecord) => readonly AuditEvent[]): Promise<boolean> {
    return this.#sql.immediate(() => {
      const row = this.#sql.get<ShiftRow>('SELECT * FROM oncall_shifts WHERE role_id = $r AND id = $id', { r: roleId, id: shiftId });
      if (!row) return false;
      this.#sql.run('DELETE FROM oncall_shifts WHERE id = $id', { id: shiftId });
      this.#appendAudit(audit(toShift(row)));
      return true;
    });
  }

  /** Inside the deactivation's transaction: takes the account off every rota from `at` (vacatedShifts.ts), with its audit record. */
  vacateIn(userId: UserId, at: number): void {
    const roles = this.#sql.all<{ name: string }>(
      'SELECT DISTINCT r.name FROM oncall_shifts s JOIN oncall_roles r ON r.id = s.role_id WHERE s.user_id = $u AND s.ends_at > $at ORDER BY r.name', { u: userId, at },
    );
    const removed = this.#sql.run('DELETE FROM oncall_shifts WHERE user_id = $u AND starts_at >= $at', { u: userId, at });
    const ended = this.#sql.run('UPDATE oncall_shifts SET ends_at = $at WHERE user_id = $u AND starts_at < $at AND ends_at > $at', { u: userId, at });
    const audit = vacatedShiftsAudit(userId, { removed, ended, roles: roles.map((r) => r.name) });
    if (audit) this.#appendAudit([audit]);
  }

  async grantScheduler(userId: UserId, actor: string, at: number, audit: readonly AuditEvent[]): Promise<boolean> {
    return this.#sql.immediate(() => {
      if (this.#sql.run('INSERT INTO oncall_schedulers (user_id, granted_at, granted_by) VALUES ($u, $at, $by) ON CONFLICT (user_id) DO NOTHING', { u: userId, at, by: actor }) === 0) return false;
      this.#appendAudit(audit);
      return true;
    });
  }

  async revokeScheduler(userId: UserId, audit: readonly AuditEvent[]): Promise<boolean> {
    return this.#sql.immediate(() => {
      if (this.#sql.run('DELETE FROM oncall_schedulers WHERE user_id = $u', { u: userId }) === 0) return false;
      this.#appendAudit(audit);
      return true;
    });
  }

  async isScheduler(userId: UserId): Promise<boolean> {
    return this.#sql.get('SELECT 1 FROM oncall_schedulers WHERE user_id = $u', { u: userId }) !== undefined;
  }

  async schedulers(): Promise<UserId[]> {
    return this.#sql.pluck<string>('SELECT user_id FROM oncall_schedulers ORDER BY user_id') as UserId[];
  }
}
