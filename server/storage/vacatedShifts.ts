import type { UserId } from '../../shared/ids';
import type { AuditEvent } from '../audit/AuditRecord';

/*
 * Issue 19: deactivating an account (the one place both stores do it, whichever way it comes: the CLI, SCIM,
 * a directory sync, inactivity) takes its owner off every rota from that moment: shifts not begun yet are
 * deleted, the one under way ends then. A role with nobody else on it falls to its backup, and the rota shows
 * the gap. The audit record says how many and on which roles (role names are organisational data), never more.
 */

/** The most role names one record lists (an account on more is counted, not named). */
const MAX_ROLES_NAMED = 20;

/** What deactivation did to an account's shifts. */
export interface VacatedShifts {
  readonly removed: number;
  readonly ended: number;
  /** The names of the roles those shifts were on, by name. */
  readonly roles: readonly string[];
}

/** The `shifts.vacated` record, by the relay itself, about the account; undefined when it held no shift from `at` on. */
export function vacatedShiftsAudit(userId: UserId, vacated: VacatedShifts): AuditEvent | undefined {
  if (vacated.removed + vacated.ended === 0) return undefined;
  const named = vacated.roles.slice(0, MAX_ROLES_NAMED).join(', ');
  const more = vacated.roles.length - MAX_ROLES_NAMED;
  return {
    type: 'shifts.vacated', actor: 'system', subject: userId,
    details: { removed: vacated.removed, ended: vacated.ended, roles: more > 0 ? `${named} and ${more} more` : named },
  };
}
