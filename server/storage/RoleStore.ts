/*
 * What the relay keeps for on-call roles (issue 19): the roles ("Cardiology on call": a unique name, any
 * case, an optional department, the IANA time zone its rota is written in, an optional backup), the shifts
 * of who holds each when (instants in UTC, with their source and who entered them), and the accounts an
 * admin allowed to change schedules (the scheduler permission). Every mutation stores its audit records in
 * the same transaction, as RelayStore's do; records that depend on what the transaction found (how many
 * shifts an import replaced) are built from it by the caller's function. Organisational data only.
 */
import type { UserId } from '../../shared/ids';
import type { RoleId, ShiftSource } from '../../shared/wire/roles';
import type { AuditEvent } from '../audit/AuditRecord';

export type RoleBackupRef = { readonly kind: 'user'; readonly userId: UserId } | { readonly kind: 'role'; readonly roleId: RoleId };

export interface RoleRecord {
  readonly id: RoleId;
  readonly name: string;
  readonly department: string | null;
  readonly timeZone: string;
  readonly backup: RoleBackupRef | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export type NewRole = Pick<RoleRecord, 'id' | 'name' | 'department' | 'timeZone' | 'backup'>;
/** The fields given change; `backup: null` removes it. */
export type RolePatch = Partial<Pick<RoleRecord, 'name' | 'department' | 'timeZone' | 'backup'>>;

export interface ShiftRecord {
  readonly id: string;
  readonly roleId: RoleId;
  readonly userId: UserId;
  readonly startsAt: number;
  readonly endsAt: number;
  readonly source: ShiftSource;
  readonly createdAt: number;
  /** Who entered it: an audit actor (`admin:<os account>`, `<userId>.<deviceId>`). */
  readonly createdBy: string;
}

export interface NewShift {
  readonly userId: UserId;
  readonly startsAt: number;
  readonly endsAt: number;
}

/** Who entered shifts, how, and when. */
export interface ShiftProvenance {
  readonly source: ShiftSource;
  readonly actor: string;
  readonly at: number;
}

/** What an import did: the shifts it stored, and how many of the role's shifts in its span it replaced. */
export interface ScheduleReplacement {
  readonly added: readonly ShiftRecord[];
  readonly removed: number;
}

/** The directory sources whose group members hold a role standing (server/roles/directoryRoleHolders.ts). */
export type DirectoryShiftSource = Extract<ShiftSource, 'scim' | 'ldap'>;

/** What a setStandingHolders changed: the standing shifts it began, and those it ended (at its time). */
export interface StandingHoldersChange {
  readonly added: readonly ShiftRecord[];
  readonly ended: readonly ShiftRecord[];
}

/** The most roles a search returns. */
export const MAX_ROLE_RESULTS = 50;

export interface RoleStore {
  /** RelayFailure BAD_REQUEST when another role has the name (any case), or the backup is not an account or role. */
  createRole(role: NewRole, at: number, audit: readonly AuditEvent[]): Promise<RoleRecord>;
  /** undefined: no such role. Refused as createRole is; a backup that would make a loop of roles is refused too. */
  updateRole(id: RoleId, patch: RolePatch, at: number, audit: readonly AuditEvent[]): Promise<RoleRecord | undefined>;
  roleById(id: RoleId): Promise<RoleRecord | undefined>;
  /** The role of this name, any case. */
  roleByName(name: string): Promise<RoleRecord | undefined>;
  /** Every role, by name. */
  listRoles(): Promise<RoleRecord[]>;
  /** Roles whose name or department contains `query` (folded: case and accents), by name; at most `limit`. */
  searchRoles(query: string, limit: number): Promise<RoleRecord[]>;

  /** The role's shifts that overlap [from, to), by start then account. */
  shifts(roleId: RoleId, from: number, to: number): Promise<ShiftRecord[]>;
  shiftById(roleId: RoleId, shiftId: string): Promise<ShiftRecord | undefined>;
  /** Adds shifts to the role (RelayFailure NOT_FOUND: no such role; BAD_REQUEST: an account that is not one). */
  addShifts(roleId: RoleId, shifts: readonly NewShift[], provenance: ShiftProvenance, audit: (added: readonly ShiftRecord[]) => readonly AuditEvent[]): Promise<ShiftRecord[]>;
  /**
   * An import: removes the role's shifts that start in [from, to) and adds `shifts`, in one transaction (so
   * importing the same rota twice leaves one copy, and a corrected rota replaces the old one).
   */
  replaceShifts(roleId: RoleId, span: { readonly from: number; readonly to: number }, shifts: readonly NewShift[], provenance: ShiftProvenance, audit: (done: ScheduleReplacement) => readonly AuditEvent[]): Promise<ScheduleReplacement>;
  /**
   * The role's standing holders from one directory source become the active accounts among `userIds`: a
   * standing shift (from `at` to STANDING_SHIFT_END, source `source`) begins for each not holding one from
   * it, and each other such shift ends at `at` (one that began at `at` is removed). Shifts from other sources
   * are not touched. `audit` builds the records from what changed, and is not called when nothing did.
   * RelayFailure NOT_FOUND: no such role.
   */
  setStandingHolders(roleId: RoleId, source: DirectoryShiftSource, userIds: readonly UserId[], provenance: Omit<ShiftProvenance, 'source'>, audit: (change: StandingHoldersChange) => readonly AuditEvent[]): Promise<StandingHoldersChange>;
  /** Removes one shift; false (nothing audited) when the role has no such shift. */
  removeShift(roleId: RoleId, shiftId: string, audit: (removed: ShiftRecord) => readonly AuditEvent[]): Promise<boolean>;

  /** Grants the scheduler permission; false (nothing audited) when the account has it already. */
  grantScheduler(userId: UserId, actor: string, at: number, audit: readonly AuditEvent[]): Promise<boolean>;
  /** Takes it away; false (nothing audited) when the account did not have it. */
  revokeScheduler(userId: UserId, audit: readonly AuditEvent[]): Promise<boolean>;
  isScheduler(userId: UserId): Promise<boolean>;
  /** The accounts with the permission. */
  schedulers(): Promise<UserId[]>;
}
