import ICAL from 'ical.js';
import { MAX_SHIFT_MS, isTimeZone } from '../../shared/wire/roles';
import { wallTimeToInstant } from './wallTime';
import type { RotaParse } from './rotaImport';

/*
 * A rota as iCalendar (.ics), as rota tools publish them: one VEVENT per shift (or a recurring one, RRULE
 * with EXDATE, expanded up to a year ahead and 1000 shifts). Who holds it: each ATTENDEE (mailto: address:
 * the username, or its part before @), else X-ROUNDS-USERNAME, else the SUMMARY (a username, or a display
 * name only one account has). Times: UTC (`…Z`) as they are; with a TZID that is an IANA zone, or that a
 * VTIMEZONE in the file defines (Outlook's "GMT Standard Time"), in that zone; floating times and all-day
 * dates in the role's time zone. Cancelled events are skipped. An override of one occurrence of a series
 * (RECURRENCE-ID, same UID: another holder, another time, or STATUS:CANCELLED for that one shift) replaces
 * that occurrence, as calendar tools show it. Every faulty event is named with its reason.
 */

/** A recurring event is expanded this far past its first start at most. */
const EXPANSION_MS = 366 * 24 * 3600_000;
const MAX_OCCURRENCES = 1000;

export function parseRotaIcs(text: string, zone: string): RotaParse {
  let calendar: ICAL.Component;
  try {
    calendar = new ICAL.Component(ICAL.parse(text) as unknown[]);
  } catch (error) {
    return { rows: [], issues: [`the file is not valid iCalendar: ${(error as Error).message}`] };
  }
  if (calendar.name !== 'vcalendar') return { rows: [], issues: ['the file is not an iCalendar calendar (no VCALENDAR)'] };
  const defined = new Set(calendar.getAllSubcomponents('vtimezone').map((tz) => String(tz.getFirstPropertyValue('tzid'))));
  const rows: RotaParse['rows'] = [];
  const issues: string[] = [];
  // No exceptions related by ical.js itself (it would relate every override in the file to every series): ours below, by UID.
  const events = calendar.getAllSubcomponents('vevent').map((component, index) => ({ component, index, event: new ICAL.Event(component, { strictExceptions: true, exceptions: [] }) }));
  const label = ({ index, event }: { index: number; event: ICAL.Event }) => `event ${index + 1}${event.uid ? ` (UID ${event.uid})` : ''}`;
  const masters = new Map(events.filter((e) => !e.component.hasProperty('recurrence-id') && e.event.uid).map((e) => [e.event.uid, e]));
  // Overrides of one shift, by series and by the instant of the shift they change; each must change one the series has.
  const overrides = new Map<string, Map<number, { where: string; component: ICAL.Component; used: boolean }>>();
  for (const e of events.filter((x) => x.component.hasProperty('recurrence-id'))) {
    const where = label(e);
    const master = masters.get(e.event.uid);
    if (!master?.event.isRecurring()) {
      issues.push(`${where}: changes one shift of a repeating event that is not in the file (RECURRENCE-ID without its series)`);
      continue;
    }
    const property = e.component.getFirstProperty('recurrence-id');
    if (property?.getParameter('range')) {
      issues.push(`${where}: changes this and every later shift (RANGE=${String(property.getParameter('range'))}), which is not read: change the series itself`);
      continue;
    }
    const at = safely(() => property?.getFirstValue());
    const original = at instanceof ICAL.Time ? instant(at, tzidOf(e.component, 'recurrence-id'), zone, 'start', defined) : 'not a date and time';
    if (typeof original === 'string') {
      issues.push(`${where}: RECURRENCE-ID: ${original}`);
      continue;
    }
    const bySeries = overrides.get(e.event.uid) ?? new Map();
    overrides.set(e.event.uid, bySeries);
    bySeries.set(original, { where, component: e.component, used: false });
  }
  for (const e of events) {
    const { component, event } = e;
    const where = label(e);
    if (component.hasProperty('recurrence-id') || cancelled(component)) continue;
    const startsOfSeries = safely(() => event.startDate);
    if (!(startsOfSeries instanceof ICAL.Time)) {
      issues.push(`${where}: no DTSTART`);
      continue;
    }
    const changed = overrides.get(event.uid);
    for (const shift of occurrencesOf(event)) {
      const original = instant(shift.start, tzidOf(component, 'dtstart'), zone, 'start', defined);
      const override = typeof original === 'number' ? changed?.get(original) : undefined;
      if (override) override.used = true;
      const item = override?.component ?? component;
      const at = override ? `${where}, the shift changed for ${String(item.getFirstPropertyValue('recurrence-id'))}` : where;
      // An override may cancel its one shift, name someone else, or move it (its own TZIDs then).
      if (cancelled(item)) continue;
      const times = override ? overrideTimes(item, at) : { start: shift.start, end: shift.end };
      if (typeof times === 'string') {
        issues.push(times);
        continue;
      }
      const people = holders(item);
      if (people.length === 0) {
        issues.push(`${at}: no person named (ATTENDEE, X-ROUNDS-USERNAME or SUMMARY)`);
        continue;
      }
      // The TZID as written (ical.js treats a zone it does not know as floating: that must not pass unnoticed).
      const startZone = tzidOf(item, 'dtstart');
      const endZone = item.hasProperty('dtend') ? tzidOf(item, 'dtend') : startZone;
      const startsAt = instant(times.start, startZone, zone, 'start', defined);
      const endsAt = instant(times.end, endZone, zone, 'end', defined);
      if (typeof startsAt === 'string') issues.push(`${at}: start: ${startsAt}`);
      else if (typeof endsAt === 'string') issues.push(`${at}: end: ${endsAt}`);
      else if (typeof original === 'number' && Math.abs(startsAt - original) > MAX_SHIFT_MS) issues.push(`${at}: moves the shift by more than 7 days (change the series, or add a shift of its own)`);
      else for (const person of people) rows.push({ where: at, person, startsAt, endsAt });
    }
  }
  for (const bySeries of overrides.values()) {
    for (const o of bySeries.values()) if (!o.used) issues.push(`${o.where}: changes a shift the series does not have (its RECURRENCE-ID is none of the series' shifts within a year of its first)`);
  }
  if (rows.length === 0 && issues.length === 0) issues.push('the calendar has no shifts (no VEVENT)');
  return { rows, issues };
}

/** The shifts of an event: its one, or a series' expanded up to EXPANSION_MS past its first and MAX_OCCURRENCES. */
function occurrencesOf(event: ICAL.Event): { start: ICAL.Time; end: ICAL.Time }[] {
  if (!event.isRecurring()) return [{ start: event.startDate, end: event.endDate }];
  const occurrences: { start: ICAL.Time; end: ICAL.Time }[] = [];
  const first = event.startDate.toJSDate().getTime();
  const iterator = event.iterator();
  for (let next = iterator.next(); next && occurrences.length < MAX_OCCURRENCES; next = iterator.next()) {
    if (next.toJSDate().getTime() - first > EXPANSION_MS) break;
    const details = event.getOccurrenceDetails(next);
    occurrences.push({ start: details.startDate, end: details.endDate });
  }
  return occurrences;
}

/** An override's own start and end (its DTEND, or its DURATION), or why they cannot be read. */
function overrideTimes(item: ICAL.Component, at: string): { start: ICAL.Time; end: ICAL.Time } | string {
  const override = new ICAL.Event(item, { strictExceptions: true, exceptions: [] });
  const start = safely(() => override.startDate);
  const end = safely(() => override.endDate);
  if (!(start instanceof ICAL.Time)) return `${at}: no DTSTART`;
  if (!(end instanceof ICAL.Time)) return `${at}: no DTEND or DURATION`;
  return { start, end };
}

/** A value ical.js may throw on reading (a malformed date in a property it parses lazily): undefined then. */
function safely<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

function cancelled(event: ICAL.Component): boolean {
  return String(event.getFirstPropertyValue('status') ?? '').toUpperCase() === 'CANCELLED';
}

function holders(event: ICAL.Component): string[] {
  const attendees = event.getAllProperties('attendee').map((p) => String(p.getFirstValue()).replace(/^mailto:/i, '').trim()).filter(Boolean);
  if (attendees.length > 0) return attendees;
  const named = String(event.getFirstPropertyValue('x-rounds-username') ?? event.getFirstPropertyValue('summary') ?? '').trim();
  return named ? [named] : [];
}

/** The TZID parameter of a time property, 'UTC' for a time ending in Z, or 'floating'. */
function tzidOf(event: ICAL.Component, name: string): string {
  const property = event.getFirstProperty(name);
  const tzid = property?.getParameter('tzid');
  if (typeof tzid === 'string' && tzid !== '') return tzid;
  const value = property?.getFirstValue();
  return value instanceof ICAL.Time && value.zone?.tzid === 'UTC' ? 'UTC' : 'floating';
}

function instant(t: ICAL.Time, tzid: string, zone: string, edge: 'start' | 'end', defined: ReadonlySet<string>): number | string {
  if (tzid === 'UTC' || t.zone?.tzid === 'UTC') return t.toUnixTime() * 1000;
  const wall = { year: t.year, month: t.month, day: t.day, hour: t.isDate ? 0 : t.hour, minute: t.isDate ? 0 : t.minute, second: t.isDate ? 0 : t.second };
  const inZone = tzid === 'floating' ? zone : isTimeZone(tzid) ? tzid : undefined;
  if (inZone) {
    const converted = wallTimeToInstant(wall, inZone, edge);
    return converted.ok ? converted.at : converted.reason;
  }
  if (defined.has(tzid)) return t.toUnixTime() * 1000;
  return `unknown time zone "${tzid}" (neither an IANA time zone nor a VTIMEZONE in the file)`;
}
