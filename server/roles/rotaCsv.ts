import { parse } from 'csv-parse/sync';
import { isBefore, nextDay, parseDateAndTime, parseExplicitInstant, parseWallTime, wallTimeToInstant, type WallTime } from './wallTime';
import type { RotaParse } from './rotaImport';

/*
 * A rota as CSV, as on-call rota tools (and spreadsheets) export it. A header row names the columns, in
 * any order and case (spaces, hyphens and underscores ignored); other columns are ignored:
 * - `username` (or `user`, `email`, `name`): the account's username, or its display name when only one
 *   account has it;
 * - either `start` and `end`: `YYYY-MM-DD HH:mm` in the role's time zone (or with `Z`/`+01:00`: that instant),
 * - or `date`, `start time` and `end time`: an end time not after the start time is on the next day (a night);
 * - `role` (optional): when present, each row's must be the role being imported.
 * Every line with a fault is named with its reason; see rotaImport.ts for what happens then.
 */

const key = (header: string) => header.trim().toLowerCase().replace(/[\s_-]+/g, '');
const PERSON = ['username', 'user', 'email', 'name'];

export function parseRotaCsv(text: string, zone: string, roleName: string): RotaParse {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { info: true, relax_column_count: true, skip_empty_lines: true, trim: true, bom: true }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (error) {
    return { rows: [], issues: [`the file is not valid CSV: ${(error as Error).message}`] };
  }
  const [header, ...body] = records;
  if (!header) return { rows: [], issues: ['the file is empty'] };
  const columns = new Map(header.record.map((h, i) => [key(h), i]));
  const column = (...names: string[]) => names.map((n) => columns.get(n)).find((i) => i !== undefined);
  const person = column(...PERSON);
  const start = column('start', 'starts', 'startsat', 'from');
  const end = column('end', 'ends', 'endsat', 'to', 'until');
  const date = column('date', 'day');
  const startTime = column('starttime', 'timefrom');
  const endTime = column('endtime', 'timeto');
  const role = column('role', 'rolename', 'schedule');
  const issues: string[] = [];
  if (person === undefined) issues.push(`line 1: no column for the person (one of: ${PERSON.join(', ')})`);
  const withDates = start !== undefined && end !== undefined;
  const withTimes = date !== undefined && startTime !== undefined && endTime !== undefined;
  if (!withDates && !withTimes) issues.push('line 1: no columns for the times (either "start" and "end", or "date", "start time" and "end time")');
  if (issues.length > 0) return { rows: [], issues };

  const rows: RotaParse['rows'] = [];
  for (const { record, info } of body) {
    const where = `line ${info.lines}`;
    if (record.length !== header.record.length) {
      issues.push(`${where}: ${record.length} columns, the header has ${header.record.length}`);
      continue;
    }
    const cell = (i: number | undefined) => (i === undefined ? '' : record[i] ?? '');
    if (role !== undefined && key(cell(role)) !== key(roleName)) {
      issues.push(`${where}: this row is for the role "${cell(role)}", not "${roleName}"`);
      continue;
    }
    const who = cell(person);
    if (who === '') {
      issues.push(`${where}: no person named`);
      continue;
    }
    const times = withDates ? dateTimes(cell(start), cell(end), zone) : dayTimes(cell(date), cell(startTime), cell(endTime), zone);
    if ('reason' in times) issues.push(`${where}: ${times.reason}`);
    else rows.push({ where, person: who, ...times });
  }
  return { rows, issues };
}

type Times = { startsAt: number; endsAt: number } | { reason: string };

function instant(text: string, zone: string, edge: 'start' | 'end'): number | string {
  const exact = parseExplicitInstant(text);
  if (exact !== undefined) return exact;
  const wall = parseWallTime(text);
  if (!wall) return `"${text}" is not a date and time (YYYY-MM-DD HH:mm)`;
  const converted = wallTimeToInstant(wall, zone, edge);
  return converted.ok ? converted.at : converted.reason;
}

function dateTimes(start: string, end: string, zone: string): Times {
  const startsAt = instant(start, zone, 'start');
  if (typeof startsAt === 'string') return { reason: `start: ${startsAt}` };
  const endsAt = instant(end, zone, 'end');
  if (typeof endsAt === 'string') return { reason: `end: ${endsAt}` };
  return { startsAt, endsAt };
}

function dayTimes(date: string, startTime: string, endTime: string, zone: string): Times {
  const from = parseDateAndTime(date, startTime);
  let to: WallTime | undefined = parseDateAndTime(date, endTime);
  if (!from || !to) return { reason: `"${date}" "${startTime}" to "${endTime}" is not a date (YYYY-MM-DD) with times (HH:mm)` };
  if (!isBefore(from, to)) to = nextDay(to);
  const s = wallTimeToInstant(from, zone, 'start');
  if (!s.ok) return { reason: `start: ${s.reason}` };
  const e = wallTimeToInstant(to, zone, 'end');
  if (!e.ok) return { reason: `end: ${e.reason}` };
  return { startsAt: s.at, endsAt: e.at };
}
