import type { AuditEvent } from '../audit/AuditRecord';
import type { RoleRecord, RolePatch, ScheduleReplacement, ShiftRecord } from '../storage/RoleStore';

/*
 * The audit records of on-call roles (shared/audit/roleSentences.ts reads them): who did it (`actor`), the
 * role's id or the holder's account as the subject, and the role's name, times in ms, and sources as
 * details. No file names, no message content: a rota is organisational data.
 */

/** `user:<id>`, `role:<name>` or '' (none), as records name a backup. */
export function backupDetail(role: Pick<RoleRecord, 'backup'>, roleName: (id: string) => string): string {
  if (!role.backup) return '';
  return role.backup.kind === 'user' ? `user:${role.backup.userId}` : `role:${roleName(role.backup.roleId)}`;
}

export function roleCreatedAudit(actor: string, role: RoleRecord, backup: string): AuditEvent {
  return { type: 'role.created', actor, subject: role.id, details: { name: role.name, department: role.department, timeZone: role.timeZone, backup } };
}

export function roleUpdatedAudit(actor: string, role: RoleRecord, patch: RolePatch, backup: string): AuditEvent {
  const changed = Object.keys(patch).filter((k) => patch[k as keyof RolePatch] !== undefined);
  return { type: 'role.updated', actor, subject: role.id, details: { name: role.name, department: role.department, timeZone: role.timeZone, backup, changed: changed.join(',') } };
}

export function shiftAudit(type: 'shift.added' | 'shift.removed', actor: string, roleName: string, shift: ShiftRecord): AuditEvent {
  return { type, actor, subject: shift.userId, details: { role: roleName, roleId: shift.roleId, shift: shift.id, startsAt: shift.startsAt, endsAt: shift.endsAt, source: shift.source } };
}

export function scheduleImportedAudit(actor: string, role: RoleRecord, source: 'csv' | 'ics', span: { from: number; to: number }, done: ScheduleReplacement): AuditEvent {
  return { type: 'schedule.imported', actor, subject: role.id, details: { role: role.name, source, from: span.from, to: span.to, added: done.added.length, removed: done.removed } };
}
