import type { UserId } from '../../../shared/ids';
import type { AddShiftRequest, RoleBackup, RoleDetail, RoleId, RoleSummary, Shift } from '../../../shared/wire/roles';
import type { RelayClient } from './RelayClient';

/*
 * On-call roles as the app's core sees them (issue 19), read from the relay each time (who holds a role changes
 * at every hand-over; a cached answer would send to yesterday's registrar).
 *
 * FOR ESCALATION (the ack engineer): `MessagingClient.roles` is one of these.
 *   - `roles.holders(roleId)`: the users who hold the role now (empty when no one does);
 *   - `roles.backupHolders(roleId)`: the users of the role's backup now (its backup account, or the holders of its
 *     backup role), for a rung "the role's backup";
 *   - `roles.recipients(roleId)`: whom a message for the role goes to now: its holders, or, when no one holds it,
 *     its backup's (with `via` saying which);
 *   - `roles.detail(roleId)`: the relay's whole answer (holders with names and since, backup, next hand-over).
 * All of them reject with RelayRequestError when the relay cannot be asked: do not fall back to an old answer.
 */
export class RoleDirectory {
  constructor(private readonly relay: RelayClient) {}

  /** Roles whose name or department contains `query` (the new-conversation picker). */
  async search(query: string, limit: number): Promise<RoleSummary[]> {
    return (await this.relay.searchRoles(query, limit)).roles;
  }

  /** The role now, or as it stands at `at` (who is on duty then, as the rota says today). */
  detail(roleId: RoleId, at?: number): Promise<RoleDetail> {
    return this.relay.role(roleId, at);
  }

  async shifts(roleId: RoleId, from: number, to: number): Promise<Shift[]> {
    return (await this.relay.roleShifts(roleId, from, to)).shifts;
  }

  /** Schedulers only (the relay refuses anyone else with FORBIDDEN). */
  async addShift(roleId: RoleId, shift: AddShiftRequest): Promise<Shift> {
    return (await this.relay.addRoleShift(roleId, shift)).shift;
  }

  removeShift(roleId: RoleId, shiftId: string): Promise<{ removed: boolean }> {
    return this.relay.removeRoleShift(roleId, shiftId);
  }

  async holders(roleId: RoleId): Promise<UserId[]> {
    return (await this.relay.role(roleId)).holders.map((h) => h.userId);
  }

  async backupHolders(roleId: RoleId): Promise<UserId[]> {
    return backupUsers((await this.relay.role(roleId)).backup);
  }

  async recipients(roleId: RoleId): Promise<{ readonly users: UserId[]; readonly via: 'holders' | 'backup' | 'nobody'; readonly detail: RoleDetail }> {
    const detail = await this.relay.role(roleId);
    return roleRecipients(detail);
  }
}

/** The users of a backup now: the account, or the backup role's holders. */
export function backupUsers(backup: RoleBackup | null): UserId[] {
  if (!backup) return [];
  return backup.kind === 'user' ? [backup.userId] : backup.holders.map((h) => h.userId);
}

/** Whom a message for the role goes to: its holders, else its backup's, else no one. */
export function roleRecipients(detail: RoleDetail): { users: UserId[]; via: 'holders' | 'backup' | 'nobody'; detail: RoleDetail } {
  if (detail.holders.length > 0) return { users: detail.holders.map((h) => h.userId), via: 'holders', detail };
  const backup = backupUsers(detail.backup);
  return backup.length > 0 ? { users: backup, via: 'backup', detail } : { users: [], via: 'nobody', detail };
}
