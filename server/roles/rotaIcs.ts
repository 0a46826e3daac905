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
 * dates in the role's time zone. Cancelled events are skipped. Every faulty event is named with its reason.
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
  calendar.getAllSubcomponents('vevent').forEach((component, index) => {
    const event = new ICAL.Event(component);
    const where = `event ${index + 1}${event.uid ? ` (UID ${event.uid})` : ''}`;
    if (String(component.getFirstPropertyValue('status') ?? '').toUpperCase() === 'CANCELLED') return;
    if (component.hasProperty('recurrence-id')) return; // an override of one occurrence: not supported, the series stands
    const people = holders(component);
    if (people.length === 0) {
      issues.push(`${where}: no person named (ATTENDEE, X-ROUNDS-USERNAME or SUMMARY)`);
      return;
    }
    if (!event.startDate) {
      issues.push(`${where}: no DTSTART`);
      return;
    }
    const occurrences: { start: ICAL.Time; end: ICAL.Time }[] = [];
    if (event.isRecurring()) {
      const first = event.startDate.toJSDate().getTime();
      const iterator = event.iterator();
      for (let next = iterator.next(); next && occurrences.length < MAX_OCCURRENCES; next = iterator.next()) {
        if (next.toJSDate().getTime() - first > EXPANSION_MS) break;
        const details = event.getOccurrenceDetails(next);
        occurrences.push({ start: details.startDate, end: details.endDate });
      }
    } else {
      occurrences.push({ start: event.startDate, end: event.endDate });
    }
    // The TZID as written (ical.js treats a zone it does not know as floating: that must not pass unnoticed).
    const startZone = tzidOf(component, 'dtstart');
    const endZone = component.hasProperty('dtend') ? tzidOf(component, 'dtend') : startZone;
    for (const { start, end } of occurrences) {
      const startsAt = instant(start, startZone, zone, 'start', defined);
      const endsAt = instant(end, endZone, zone, 'end', defined);
      if (typeof startsAt === 'string') issues.push(`${where}: start: ${startsAt}`);
      else if (typeof endsAt === 'string') issues.push(`${where}: end: ${endsAt}`);
      else for (const person of people) rows.push({ where, person, startsAt, endsAt });
    }
  });
  if (rows.length === 0 && issues.length === 0) issues.push('the calendar has no shifts (no VEVENT)');
  return { rows, issues };
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
