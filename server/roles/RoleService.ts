import { randomUUID } from 'node:crypto';
import type { UserId } from '../../shared/ids';
import { RESOLUTION_REACH_MS, resolveRole } from '../../shared/roles/scheduleResolution';
import { RoleIdSchema, type RoleBackup, type RoleDetail, type RoleId, type RoleSummary, type Shift, type ShiftSource, type UnreachableHolder } from '../../shared/wire/roles';
import { RelayFailure } from '../RelayFailure';
import type { RelayStore } from '../storage/RelayStore';
import type { NewShift, RoleBackupRef, RolePatch, RoleRecord, ShiftRecord } from '../storage/RoleStore';
import { backupDetail, roleCreatedAudit, roleUpdatedAudit, scheduleImportedAudit, shiftAudit } from './roleAudit';
import { planRotaImport, type RotaFormat } from './rotaImport';

/*
 * On-call roles as the CLI and the relay's HTTP routes use them (issue 19): creating and changing roles,
 * adding and removing shifts, importing rotas, the scheduler permission, and who holds a role at an instant.
 * Every change is audited with its actor (`admin:<os account>` or `<userId>.<deviceId>`) and source.
 */

/** A backup as an admin names it: an account by username, or another role by name. */
export type BackupName = { readonly username: string } | { readonly role: string } | null;

export class RoleService {
  constructor(private readonly store: RelayStore, private readonly now: () => number) {}

  async createRole(actor: string, fields: { name: string; department: string | null; timeZone: string; backup: BackupName }): Promise<RoleRecord> {
    const role: RoleRecord = {
      id: RoleIdSchema.parse(randomUUID()), name: fields.name, department: fields.department, timeZone: fields.timeZone,
      backup: await this.#backupRef(fields.backup), createdAt: 0, updatedAt: 0,
    };
    const at = this.now();
    return this.store.roles.createRole(role, at, [roleCreatedAudit(actor, { ...role, createdAt: at, updatedAt: at }, await this.#backupDetail(role))]);
  }

  async updateRole(actor: string, nameOrId: string, fields: { name?: string; department?: string | null; timeZone?: string; backup?: BackupName }): Promise<RoleRecord> {
    const current = await this.requireRole(nameOrId);
    const patch: RolePatch = {
      ...(fields.name !== undefined ? { name: fields.name } : {}), ...(fields.department !== undefined ? { department: fields.department } : {}),
      ...(fields.timeZone !== undefined ? { timeZone: fields.timeZone } : {}), ...(fields.backup !== undefined ? { backup: await this.#backupRef(fields.backup) } : {}),
    };
    const next = { ...current, ...patch };
    const updated = await this.store.roles.updateRole(current.id, patch, this.now(), [roleUpdatedAudit(actor, next, patch, await this.#backupDetail(next))]);
    if (!updated) throw new RelayFailure('NOT_FOUND', `no role ${nameOrId}`);
    return updated;
  }

  /** The role of this name (any case) or id. */
  async requireRole(nameOrId: string): Promise<RoleRecord> {
    const byId = RoleIdSchema.safeParse(nameOrId);
    const role = (byId.success ? await this.store.roles.roleById(byId.data) : undefined) ?? await this.store.roles.roleByName(nameOrId);
    if (!role) throw new RelayFailure('NOT_FOUND', `no role named ${nameOrId}`);
    return role;
  }

  /**
   * The role with its holders at `at`, its backup (a role's with its holders), and the next hand-over. Holders
   * (and a backup) a message cannot reach (account not active, or no workstation) are left out and listed as
   * unreachable instead: with no reachable holder, a message for the role goes to the backup.
   */
  async detail(role: RoleRecord, at: number, caller?: UserId): Promise<RoleDetail> {
    const resolved = await this.#resolve(role.id, at);
    const names = await this.#names([...resolved.holders.map((h) => h.userId), ...(resolved.nextHandOver?.holders ?? [])]);
    const holders = await this.#reachable(resolved.holders.map((h) => ({ userId: h.userId, displayName: names(h.userId), since: h.since })), at, 'holder');
    const backup = await this.#backup(role, at);
    return {
      role: summary(role),
      at,
      holders: holders.reachable,
      backup: backup.backup,
      unreachable: [...holders.unreachable, ...backup.unreachable],
      nextHandOver: resolved.nextHandOver && { at: resolved.nextHandOver.at, holders: resolved.nextHandOver.holders.map((userId) => ({ userId, displayName: names(userId) })) },
      canSchedule: caller !== undefined && await this.store.roles.isScheduler(caller),
    };
  }

  async #resolve(roleId: RoleId, at: number) {
    return resolveRole(await this.store.roles.shifts(roleId, at - RESOLUTION_REACH_MS, at + RESOLUTION_REACH_MS), at);
  }

  async #backup(role: RoleRecord, at: number): Promise<{ backup: RoleBackup | null; unreachable: UnreachableHolder[] }> {
    if (!role.backup) return { backup: null, unreachable: [] };
    if (role.backup.kind === 'user') {
      const user = await this.store.userById(role.backup.userId);
      // An account the relay no longer knows is no backup, and is said to be out of reach like a deactivated one.
      if (!user) return { backup: null, unreachable: [{ userId: role.backup.userId, displayName: 'Unknown account', reason: 'accountNotActive', as: 'backup' }] };
      const { reachable, unreachable } = await this.#reachable([{ userId: user.id, displayName: user.displayName }], at, 'backup');
      return { backup: reachable[0] ? { kind: 'user', ...reachable[0] } : null, unreachable };
    }
    const other = await this.store.roles.roleById(role.backup.roleId);
    if (!other) return { backup: null, unreachable: [] };
    const resolved = await this.#resolve(other.id, at);
    const names = await this.#names(resolved.holders.map((h) => h.userId));
    const { reachable, unreachable } = await this.#reachable(resolved.holders.map((h) => ({ userId: h.userId, displayName: names(h.userId), since: h.since })), at, 'backup');
    return { backup: { kind: 'role', role: summary(other), holders: reachable }, unreachable };
  }

  /** Splits people into those a message reaches at `at` (an active account with a workstation signed in) and the rest. */
  async #reachable<T extends { userId: UserId; displayName: string; since?: number }>(people: readonly T[], at: number, as: UnreachableHolder['as']): Promise<{ reachable: T[]; unreachable: UnreachableHolder[] }> {
    const reachable: T[] = [];
    const unreachable: UnreachableHolder[] = [];
    for (const person of people) {
      const reason = await this.#unreachableBecause(person.userId, at);
      if (reason) unreachable.push({ userId: person.userId, displayName: person.displayName, reason, as, ...(person.since !== undefined ? { since: person.since } : {}) });
      else reachable.push(person);
    }
    return { reachable, unreachable };
  }

  async #unreachableBecause(userId: UserId, at: number): Promise<UnreachableHolder['reason'] | undefined> {
    if ((await this.store.userById(userId))?.status !== 'active') return 'accountNotActive';
    const devices = await this.store.devices(userId);
    return devices.some((d) => d.revokedAt === null && (d.expiresAt === null || d.expiresAt > at)) ? undefined : 'noWorkstation';
  }

  /** The shifts overlapping [from, to), with their holders' names (the schedule dialog, `role show`). */
  async shifts(roleId: RoleId, from: number, to: number): Promise<Shift[]> {
    const shifts = await this.store.roles.shifts(roleId, from, to);
    const names = await this.#names(shifts.map((s) => s.userId));
    return shifts.map((s) => wireShift(s, names(s.userId)));
  }

  async addShift(actor: string, role: RoleRecord, shift: NewShift, source: ShiftSource): Promise<Shift> {
    const [added] = await this.store.roles.addShifts(role.id, [shift], { source, actor, at: this.now() }, (done) => done.map((s) => shiftAudit('shift.added', actor, role.name, s)));
    if (!added) throw new RelayFailure('INTERNAL', 'the shift was not stored');
    return wireShift(added, (await this.#names([added.userId]))(added.userId));
  }

  async removeShift(actor: string, role: RoleRecord, shiftId: string): Promise<boolean> {
    // A directory group's standing holder is changed in the directory (it would come back at the next change there).
    const shift = await this.store.roles.shiftById(role.id, shiftId);
    if (shift?.source === 'scim' || shift?.source === 'ldap') throw new RelayFailure('BAD_REQUEST', "this holder comes from a directory group mapped to the role: change the group's members in the directory");
    return this.store.roles.removeShift(role.id, shiftId, (removed) => [shiftAudit('shift.removed', actor, role.name, removed)]);
  }

  /** Imports a rota file (all or nothing: RotaRefused names every faulty line or event). */
  async importRota(actor: string, role: RoleRecord, text: string, format: RotaFormat) {
    const plan = await planRotaImport(text, format, role, await this.store.listUsers());
    const done = await this.store.roles.replaceShifts(role.id, plan.span, plan.shifts, { source: format, actor, at: this.now() }, (d) => [scheduleImportedAudit(actor, role, format, plan.span, d)]);
    return { ...done, span: plan.span };
  }

  async setScheduler(actor: string, userId: UserId, allowed: boolean): Promise<boolean> {
    const audit = [{ type: allowed ? 'scheduler.granted' as const : 'scheduler.revoked' as const, actor, subject: userId, details: {} }];
    return allowed ? this.store.roles.grantScheduler(userId, actor, this.now(), audit) : this.store.roles.revokeScheduler(userId, audit);
  }

  async #backupRef(backup: BackupName): Promise<RoleBackupRef | null> {
    if (backup === null) return null;
    if ('username' in backup) {
      const user = await this.store.userByUsername(backup.username);
      if (!user) throw new RelayFailure('BAD_REQUEST', `no account ${backup.username} to be the backup`);
      // A message for the role would go past a deactivated backup to no one: refused when it is named.
      if (user.status === 'deactivated') throw new RelayFailure('BAD_REQUEST', `the account ${backup.username} is deactivated and cannot be a role's backup: name an active account or another role`);
      return { kind: 'user', userId: user.id };
    }
    return { kind: 'role', roleId: (await this.requireRole(backup.role)).id };
  }

  async #backupDetail(role: Pick<RoleRecord, 'backup'>): Promise<string> {
    const other = role.backup?.kind === 'role' ? await this.store.roles.roleById(role.backup.roleId) : undefined;
    return backupDetail(role, () => other?.name ?? '');
  }

  async #names(ids: readonly UserId[]): Promise<(id: UserId) => string> {
    const names = new Map<UserId, string>();
    for (const id of new Set(ids)) names.set(id, (await this.store.userById(id))?.displayName ?? 'Unknown');
    return (id) => names.get(id) ?? 'Unknown';
  }
}

export const summary = (role: RoleRecord): RoleSummary => ({ id: role.id, name: role.name, department: role.department, timeZone: role.timeZone });
const wireShift = (s: ShiftRecord, displayName: string): Shift => ({ id: s.id, userId: s.userId, displayName, startsAt: s.startsAt, endsAt: s.endsAt, source: s.source });
