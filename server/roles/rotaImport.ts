import { foldForSearch } from '../../shared/wire/directory';
import { MAX_SHIFT_MS } from '../../shared/wire/roles';
import type { UserId } from '../../shared/ids';
import type { UserRecord } from '../storage/relayRecords';
import type { NewShift } from '../storage/RoleStore';

/*
 * Importing a rota file (CSV: rotaCsv.ts, iCalendar: rotaIcs.ts) into a role's schedule. All or nothing:
 * when any row or event is faulty (an unknown person, a time that does not exist, a shift that ends before it
 * starts), nothing is stored and every fault is listed by line or event, so the rota is fixed at its source
 * and imported again. Otherwise the shifts replace the role's shifts that start within the file's span
 * (RoleStore.replaceShifts): importing the same file twice, or a corrected one, leaves one schedule.
 */

export interface RotaRow {
  /** "line 4", "event 2 (UID …)". */
  readonly where: string;
  /** A username or a display name, as the file names the person. */
  readonly person: string;
  readonly startsAt: number;
  readonly endsAt: number;
}

export interface RotaParse {
  readonly rows: RotaRow[];
  readonly issues: string[];
}

export type RotaFormat = 'csv' | 'ics';

/** The rota could not be imported; `issues` names each faulty line or event. Nothing was stored. */
export class RotaRefused extends Error {
  readonly code = 'ROTA_REFUSED';
  constructor(readonly issues: readonly string[]) {
    super(`the rota was not imported (nothing was changed): ${issues.length === 1 ? issues[0] : `${issues.length} problems`}`);
    this.name = 'RotaRefused';
  }
}

/** The most faults listed (a file in the wrong format has one per line). */
const MAX_ISSUES = 50;

export interface PlannedImport {
  readonly shifts: readonly NewShift[];
  /** The span the file covers: its earliest start to its latest end. */
  readonly span: { readonly from: number; readonly to: number };
}

/** The format a file's name says (.csv, .ics/.ical), or undefined. */
export function rotaFormatOf(fileName: string): RotaFormat | undefined {
  const lower = fileName.toLowerCase();
  return lower.endsWith('.csv') ? 'csv' : lower.endsWith('.ics') || lower.endsWith('.ical') || lower.endsWith('.ifb') ? 'ics' : undefined;
}

/**
 * The shifts a rota file describes, its wall times read in `zone` (the role's), its people matched with
 * `users` (not deactivated); RotaRefused listing every fault otherwise.
 */
export async function planRotaImport(text: string, format: RotaFormat, role: { readonly name: string; readonly timeZone: string }, users: readonly UserRecord[]): Promise<PlannedImport> {
  // The parsers (csv-parse, ical.js, luxon: about 2 MiB of the relay's heap) are loaded by the first import, not at start-up.
  const parsed = format === 'csv' ? (await import('./rotaCsv')).parseRotaCsv(text, role.timeZone, role.name) : (await import('./rotaIcs')).parseRotaIcs(text, role.timeZone);
  const issues = [...parsed.issues];
  const findPerson = personFinder(users.filter((u) => u.status !== 'deactivated'));
  const shifts: NewShift[] = [];
  for (const row of parsed.rows) {
    const found = findPerson(row.person);
    if ('problem' in found) issues.push(`${row.where}: ${found.problem}`);
    else if (row.endsAt <= row.startsAt) issues.push(`${row.where}: the shift ends (${new Date(row.endsAt).toISOString()}) before it starts (${new Date(row.startsAt).toISOString()})`);
    else if (row.endsAt - row.startsAt > MAX_SHIFT_MS) issues.push(`${row.where}: the shift is longer than 7 days`);
    else shifts.push({ userId: found.userId, startsAt: row.startsAt, endsAt: row.endsAt });
  }
  if (issues.length === 0 && shifts.length === 0) issues.push('the file has no shifts');
  if (issues.length > 0) throw new RotaRefused(issues.length > MAX_ISSUES ? [...issues.slice(0, MAX_ISSUES), `and ${issues.length - MAX_ISSUES} more`] : issues);
  return { shifts, span: { from: Math.min(...shifts.map((s) => s.startsAt)), to: Math.max(...shifts.map((s) => s.endsAt)) } };
}

/** A username (any case; an e-mail address's part before @ too), or a display name only one account has. */
function personFinder(users: readonly UserRecord[]): (person: string) => { userId: UserId } | { problem: string } {
  const byUsername = new Map(users.map((u) => [u.username.toLowerCase(), u.id]));
  const byName = new Map<string, UserId[]>();
  for (const u of users) byName.set(foldForSearch(u.displayName), [...(byName.get(foldForSearch(u.displayName)) ?? []), u.id]);
  return (person) => {
    const lower = person.trim().toLowerCase();
    const id = byUsername.get(lower) ?? (lower.includes('@') ? byUsername.get(lower.split('@')[0] ?? '') : undefined);
    if (id) return { userId: id };
    const named = byName.get(foldForSearch(person.trim())) ?? [];
    if (named.length === 1 && named[0]) return { userId: named[0] };
    if (named.length > 1) return { problem: `"${person}" is the name of ${named.length} accounts: use the username` };
    return { problem: `no account "${person}" (a username, or the display name of one account)` };
  };
}
