import { DateTime } from 'luxon';
import { RelayFailure } from '../RelayFailure';
import { parseExplicitInstant, parseWallTime, wallTimeToInstant } from '../roles/wallTime';
import type { RoleRecord } from '../storage/RoleStore';

/* The times `rounds-server role` reads and prints, apart from its commands so that only they load luxon. */

/** A time typed for a role: a wall time in its zone, or an explicit instant. */
export function typedTime(text: string, role: RoleRecord, edge: 'start' | 'end'): number {
  const exact = parseExplicitInstant(text);
  if (exact !== undefined) return exact;
  const wall = parseWallTime(text);
  if (!wall) throw new RelayFailure('BAD_REQUEST', `"${text}" is not a date and time: YYYY-MM-DD HH:mm (in ${role.timeZone}), or with Z or an offset`);
  const converted = wallTimeToInstant(wall, role.timeZone, edge);
  if (!converted.ok) throw new RelayFailure('BAD_REQUEST', converted.reason);
  return converted.at;
}

/** An instant as the role's rota has it: `2026-12-03 08:00 GMT`. */
export const local = (at: number, zone: string): string => DateTime.fromMillis(at, { zone }).toFormat('yyyy-MM-dd HH:mm ZZZZ');
