import type { UserId } from '../../shared/ids';
import type { RoleId, ShiftSource } from '../../shared/wire/roles';
import { foldForSearch } from '../../shared/wire/directory';
import { STANDING_SHIFT_END } from '../../shared/wire/roles';
import type { NewShift, RoleBackupRef, RoleRecord, ShiftRecord } from './RoleStore';

/*
 * The rows of the on-call role tables as both stores read them (PostgreSQL gives BIGINT columns as strings),
 * and the folded keys they keep: a name unique in any case, and the text a role search looks in.
 */

export interface RoleRow { id: string; name: string; department: string | null; time_zone: string; backup_user_id: string | null; backup_role_id: string | null; created_at: number | string; updated_at: number | string }
export interface ShiftRow { id: string; role_id: string; user_id: string; starts_at: number | string; ends_at: number | string; source: string; created_at: number | string; created_by: string }

export function toRole(r: RoleRow): RoleRecord {
  const backup: RoleBackupRef | null = r.backup_user_id ? { kind: 'user', userId: r.backup_user_id as UserId } : r.backup_role_id ? { kind: 'role', roleId: r.backup_role_id as RoleId } : null;
  return { id: r.id as RoleId, name: r.name, department: r.department, timeZone: r.time_zone, backup, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) };
}

export function toShift(r: ShiftRow): ShiftRecord {
  return { id: r.id, roleId: r.role_id as RoleId, userId: r.user_id as UserId, startsAt: Number(r.starts_at), endsAt: Number(r.ends_at), source: r.source as ShiftSource, createdAt: Number(r.created_at), createdBy: r.created_by };
}

/** Two names that differ only in case or accents name one role. */
export const roleNameKey = (name: string): string => foldForSearch(name.trim());
/** What a role search looks in: the name, then the department. */
export const roleSearchText = (role: Pick<RoleRecord, 'name' | 'department'>): string => foldForSearch(`${role.name}\n${role.department ?? ''}`);

/** The columns a role is written with (backup split into its two columns). */
export function roleColumns(role: Pick<RoleRecord, 'name' | 'department' | 'timeZone' | 'backup'>) {
  return {
    name: role.name, nameKey: roleNameKey(role.name), department: role.department, timeZone: role.timeZone,
    backupUser: role.backup?.kind === 'user' ? role.backup.userId : null, backupRole: role.backup?.kind === 'role' ? role.backup.roleId : null,
    search: roleSearchText(role),
  };
}

/** The role after a patch (the fields given replace the stored ones). */
export function patchedRole(current: RoleRecord, patch: Partial<Pick<RoleRecord, 'name' | 'department' | 'timeZone' | 'backup'>>, at: number): RoleRecord {
  return { ...current, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)), updatedAt: at };
}

/**
 * setStandingHolders, decided the same on both stores: of a source's standing shifts (`current`), those of
 * accounts not in `wanted` end (returned with their end, `at`); each account of `wanted` without one gets one.
 * Past `cap` accounts wanted, only those already holding it keep it.
 */
export function planStandingHolders(current: readonly ShiftRecord[], wanted: readonly UserId[], at: number, cap = Number.POSITIVE_INFINITY): { add: NewShift[]; ended: ShiftRecord[] } {
  const held = new Set(current.map((s) => s.userId));
  // More than `cap` wanted (a message to the role could not reach them all): nobody joins, those who left still go.
  const keep = new Set(new Set(wanted).size > cap ? wanted.filter((u) => held.has(u)) : wanted);
  return {
    add: [...keep].filter((u) => !held.has(u)).sort().map((userId) => ({ userId, startsAt: at, endsAt: STANDING_SHIFT_END })),
    ended: current.filter((s) => !keep.has(s.userId)).map((s) => ({ ...s, endsAt: at })),
  };
}
