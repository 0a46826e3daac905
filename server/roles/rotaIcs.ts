import ICAL from 'ical.js';
import { isTimeZone } from '../../shared/wire/roles';
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
  const events = calendar.getAllSubcomponents('vevent').map((component, index) => ({ component, index, event: new ICAL.Event(component) }));
  const label = ({ index, event }: { index: number; event: ICAL.Event }) => `event ${index + 1}${event.uid ? ` (UID ${event.uid})` : ''}`;
  // Overrides of one occurrence belong to the series with their UID; one without its series in the file is named.
  const series = new Map(events.filter((e) => !e.component.hasProperty('recurrence-id') && e.event.uid).map((e) => [e.event.uid, e.event]));
  for (const e of events.filter((x) => x.component.hasProperty('recurrence-id'))) {
    const master = series.get(e.event.uid);
    if (master?.isRecurring()) master.relateException(e.event);
    else issues.push(`${label(e)}: changes one shift of a repeating event that is not in the file (RECURRENCE-ID without its series)`);
  }
  for (const e of events) {
    const { component, event } = e;
    const where = label(e);
    if (component.hasProperty('recurrence-id') || cancelled(component)) continue;
    if (!event.startDate) {
      issues.push(`${where}: no DTSTART`);
      continue;
    }
    const occurrences: { start: ICAL.Time; end: ICAL.Time; item: ICAL.Component }[] = [];
    if (event.isRecurring()) {
      const first = event.startDate.toJSDate().getTime();
      const iterator = event.iterator();
      for (let next = iterator.next(); next && occurrences.length < MAX_OCCURRENCES; next = iterator.next()) {
        if (next.toJSDate().getTime() - first > EXPANSION_MS) break;
        const details = event.getOccurrenceDetails(next);
        occurrences.push({ start: details.startDate, end: details.endDate, item: details.item.component });
      }
    } else {
      occurrences.push({ start: event.startDate, end: event.endDate, item: component });
    }
    for (const { start, end, item } of occurrences) {
      // An override may cancel its one shift, name someone else, or move it (its own TZIDs then).
      if (cancelled(item)) continue;
      const at = item === component ? where : `${where}, the shift changed for ${String(item.getFirstPropertyValue('recurrence-id'))}`;
      const people = holders(item);
      if (people.length === 0) {
        issues.push(`${at}: no person named (ATTENDEE, X-ROUNDS-USERNAME or SUMMARY)`);
        continue;
      }
      // The TZID as written (ical.js treats a zone it does not know as floating: that must not pass unnoticed).
      const startZone = tzidOf(item, 'dtstart');
      const endZone = item.hasProperty('dtend') ? tzidOf(item, 'dtend') : startZone;
      const startsAt = instant(start, startZone, zone, 'start', defined);
      const endsAt = instant(end, endZone, zone, 'end', defined);
      if (typeof startsAt === 'string') issues.push(`${at}: start: ${startsAt}`);
      else if (typeof endsAt === 'string') issues.push(`${at}: end: ${endsAt}`);
      else for (const person of people) rows.push({ where: at, person, startsAt, endsAt });
    }
  }
  if (rows.length === 0 && issues.length === 0) issues.push('the calendar has no shifts (no VEVENT)');
  return { rows, issues };
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
