import { describe, expect, it } from 'vitest';
import type { UserId } from '../../shared/ids';
import type { UserRecord } from '../storage/relayRecords';
import { planRotaImport, RotaRefused, type RotaFormat } from './rotaImport';

/* Rota files as rota tools export them: CSV and iCalendar, wall times in the role's zone, faults named by line or event. */
const user = (id: string, username: string, displayName: string, status: UserRecord['status'] = 'active') => ({ id: id as UserId, username, displayName, status }) as UserRecord;
const USERS = [
  user('a0000000-0000-4000-8000-00000000000a', 'lee', 'Dr. Lee'),
  user('b0000000-0000-4000-8000-00000000000b', 'patel@hospital.example', 'Dr. Patel'),
  user('c0000000-0000-4000-8000-00000000000c', 'chen', 'Dr. Chen'),
  user('d0000000-0000-4000-8000-00000000000d', 'chen2', 'Dr. Chen'),
  user('e0000000-0000-4000-8000-00000000000e', 'gone', 'Dr. Gone', 'deactivated'),
];
const ROLE = { name: 'Cardiology on call', timeZone: 'Europe/London' };
const plan = (text: string, format: RotaFormat) => planRotaImport(text, format, ROLE, USERS);
async function refusal(text: string, format: RotaFormat): Promise<readonly string[]> {
  try {
    await plan(text, format);
  } catch (error) {
    expect(error).toBeInstanceOf(RotaRefused);
    return (error as RotaRefused).issues;
  }
  throw new Error('imported');
}

describe('CSV rotas', () => {
  it('reads start and end columns in the role\'s zone (GMT in winter, BST in summer), people by username, e-mail or unique name', async () => {
    const { shifts, span } = await plan('Username,Start,End,Notes\nlee,2026-01-10 08:00,2026-01-10 20:00,\npatel@hospital.example,2026-07-10 20:00,2026-07-11 08:00,night\nDr. Lee,2026-07-11T08:00,2026-07-11T20:00Z,\n', 'csv');
    expect(shifts).toEqual([
      { userId: USERS[0]!.id, startsAt: Date.UTC(2026, 0, 10, 8), endsAt: Date.UTC(2026, 0, 10, 20) },
      { userId: USERS[1]!.id, startsAt: Date.UTC(2026, 6, 10, 19), endsAt: Date.UTC(2026, 6, 11, 7) },
      // An explicit Z is that instant, whatever the zone.
      { userId: USERS[0]!.id, startsAt: Date.UTC(2026, 6, 11, 7), endsAt: Date.UTC(2026, 6, 11, 20) },
    ]);
    expect(span).toEqual({ from: Date.UTC(2026, 0, 10, 8), to: Date.UTC(2026, 6, 11, 20) });
  });

  it('reads a date with start and end times, a night ending the next morning, across the spring change', async () => {
    const { shifts } = await plan('role,date,start time,end time,user\nCardiology on call,2026-03-28,20:00,08:00,chen\ncardiology ON CALL,2026-03-29,08:00,20:00,lee\n', 'csv');
    expect(shifts).toEqual([
      { userId: USERS[2]!.id, startsAt: Date.UTC(2026, 2, 28, 20), endsAt: Date.UTC(2026, 2, 29, 7) },
      { userId: USERS[0]!.id, startsAt: Date.UTC(2026, 2, 29, 7), endsAt: Date.UTC(2026, 2, 29, 19) },
    ]);
  });

  it('names every faulty line with its reason and imports nothing', async () => {
    const issues = await refusal([
      'username,start,end',
      'lee,2026-03-29 01:30,2026-03-29 08:00', // line 2: in the spring gap
      'nobody,2026-03-30 08:00,2026-03-30 20:00', // line 3
      'Dr. Chen,2026-03-30 08:00,2026-03-30 20:00', // line 4: two accounts have the name
      'lee,2026-03-31 20:00,2026-03-31 08:00', // line 5: ends before it starts
      'lee,yesterday,2026-03-31 08:00', // line 6
      'lee,2026-04-01 08:00', // line 7: a column short
      'gone,2026-04-02 08:00,2026-04-02 20:00', // line 8: deactivated
      'patel@hospital.example,2026-04-03 08:00,2026-04-03 20:00', // fine, but nothing is stored
    ].join('\n'), 'csv');
    expect(issues).toEqual([
      'line 2: start: 2026-03-29 01:30 does not exist in Europe/London (the clocks go forward then)',
      'line 6: start: "yesterday" is not a date and time (YYYY-MM-DD HH:mm)',
      'line 7: 2 columns, the header has 3',
      'line 3: no account "nobody" (a username, or the display name of one account)',
      'line 4: "Dr. Chen" is the name of 2 accounts: use the username',
      'line 5: the shift ends (2026-03-31T07:00:00.000Z) before it starts (2026-03-31T19:00:00.000Z)',
      'line 8: no account "gone" (a username, or the display name of one account)',
    ]);
  });

  it('refuses a file without the columns it needs, rows for another role, and an empty file', async () => {
    expect(await refusal('who,when\nlee,today\n', 'csv')).toEqual(['line 1: no column for the person (one of: username, user, email, name)', 'line 1: no columns for the times (either "start" and "end", or "date", "start time" and "end time")']);
    expect(await refusal('role,username,start,end\nWard 4 charge nurse,lee,2026-04-01 08:00,2026-04-01 20:00\n', 'csv')).toEqual(['line 2: this row is for the role "Ward 4 charge nurse", not "Cardiology on call"']);
    expect(await refusal('', 'csv')).toEqual(['the file is empty']);
    expect(await refusal('username,start,end\n', 'csv')).toEqual(['the file has no shifts']);
  });
});

const calendar = (...parts: string[]) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Rota tool//EN', ...parts, 'END:VCALENDAR'].join('\r\n');
const OUTLOOK_LONDON = [
  'BEGIN:VTIMEZONE', 'TZID:GMT Standard Time',
  'BEGIN:STANDARD', 'DTSTART:16011028T020000', 'RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0000', 'END:STANDARD',
  'BEGIN:DAYLIGHT', 'DTSTART:16010325T010000', 'RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3', 'TZOFFSETFROM:+0000', 'TZOFFSETTO:+0100', 'END:DAYLIGHT',
  'END:VTIMEZONE',
];
const event = (...lines: string[]) => ['BEGIN:VEVENT', ...lines, 'END:VEVENT'];

describe('iCalendar rotas', () => {
  it('reads UTC, IANA TZID, a VTIMEZONE the file defines, floating times (the role\'s zone) and attendees', async () => {
    const { shifts } = await plan(calendar(
      ...OUTLOOK_LONDON,
      ...event('UID:1', 'SUMMARY:lee', 'DTSTART:20260701T070000Z', 'DTEND:20260701T190000Z'),
      ...event('UID:2', 'SUMMARY:Dr. Patel', 'DTSTART;TZID=Europe/London:20260702T080000', 'DTEND;TZID=Europe/London:20260702T200000'),
      ...event('UID:3', 'ATTENDEE;CN=Chen:mailto:chen@hospital.example', 'DTSTART;TZID=GMT Standard Time:20260703T080000', 'DTEND;TZID=GMT Standard Time:20260703T200000'),
      ...event('UID:4', 'X-ROUNDS-USERNAME:lee', 'SUMMARY:Cardiology on call', 'DTSTART:20260104T080000', 'DTEND:20260104T200000'),
      ...event('UID:5', 'SUMMARY:lee', 'STATUS:CANCELLED', 'DTSTART:20260105T080000', 'DTEND:20260105T200000'),
    ), 'ics');
    expect(shifts).toEqual([
      { userId: USERS[0]!.id, startsAt: Date.UTC(2026, 6, 1, 7), endsAt: Date.UTC(2026, 6, 1, 19) },
      { userId: USERS[1]!.id, startsAt: Date.UTC(2026, 6, 2, 7), endsAt: Date.UTC(2026, 6, 2, 19) },
      { userId: USERS[2]!.id, startsAt: Date.UTC(2026, 6, 3, 7), endsAt: Date.UTC(2026, 6, 3, 19) },
      { userId: USERS[0]!.id, startsAt: Date.UTC(2026, 0, 4, 8), endsAt: Date.UTC(2026, 0, 4, 20) },
    ]);
  });

  it('expands a weekly RRULE at the same London wall time across the spring change, skipping an EXDATE', async () => {
    const { shifts } = await plan(calendar(...event('UID:weekly', 'SUMMARY:lee', 'DTSTART;TZID=Europe/London:20260321T080000', 'DTEND;TZID=Europe/London:20260321T200000', 'RRULE:FREQ=WEEKLY;COUNT=4', 'EXDATE;TZID=Europe/London:20260404T080000')), 'ics');
    expect(shifts.map((s) => new Date(s.startsAt).toISOString())).toEqual(['2026-03-21T08:00:00.000Z', '2026-03-28T08:00:00.000Z', '2026-04-11T07:00:00.000Z']);
  });

  it('applies overrides of one shift of a series: another holder, another time, or that shift cancelled', async () => {
    const { shifts } = await plan(calendar(
      ...event('UID:nights', 'SUMMARY:lee', 'DTSTART;TZID=Europe/London:20260706T200000', 'DTEND;TZID=Europe/London:20260707T080000', 'RRULE:FREQ=DAILY;COUNT=4'),
      // Tuesday: Dr. Patel covers; Wednesday: starts two hours late; Thursday: nobody (the shift is cancelled).
      ...event('UID:nights', 'RECURRENCE-ID;TZID=Europe/London:20260707T200000', 'ATTENDEE:mailto:patel@hospital.example', 'DTSTART;TZID=Europe/London:20260707T200000', 'DTEND;TZID=Europe/London:20260708T080000'),
      ...event('UID:nights', 'RECURRENCE-ID;TZID=Europe/London:20260708T200000', 'SUMMARY:lee', 'DTSTART;TZID=Europe/London:20260708T220000', 'DTEND;TZID=Europe/London:20260709T080000'),
      ...event('UID:nights', 'RECURRENCE-ID;TZID=Europe/London:20260709T200000', 'SUMMARY:lee', 'STATUS:CANCELLED', 'DTSTART;TZID=Europe/London:20260709T200000', 'DTEND;TZID=Europe/London:20260710T080000'),
    ), 'ics');
    expect(shifts).toEqual([
      { userId: USERS[0]!.id, startsAt: Date.UTC(2026, 6, 6, 19), endsAt: Date.UTC(2026, 6, 7, 7) },
      { userId: USERS[1]!.id, startsAt: Date.UTC(2026, 6, 7, 19), endsAt: Date.UTC(2026, 6, 8, 7) },
      { userId: USERS[0]!.id, startsAt: Date.UTC(2026, 6, 8, 21), endsAt: Date.UTC(2026, 6, 9, 7) },
    ]);
  });

  it('names an override whose series is not in the file, and one that names nobody', async () => {
    const issues = await refusal(calendar(
      ...event('UID:days', 'SUMMARY:lee', 'DTSTART:20260706T070000Z', 'DTEND:20260706T190000Z', 'RRULE:FREQ=DAILY;COUNT=2'),
      ...event('UID:days', 'RECURRENCE-ID:20260707T070000Z', 'DTSTART:20260707T070000Z', 'DTEND:20260707T190000Z'),
      ...event('UID:orphan', 'RECURRENCE-ID:20260801T070000Z', 'SUMMARY:lee', 'DTSTART:20260801T070000Z', 'DTEND:20260801T190000Z'),
    ), 'ics');
    expect(issues).toEqual([
      'event 3 (UID orphan): changes one shift of a repeating event that is not in the file (RECURRENCE-ID without its series)',
      'event 1 (UID days), the shift changed for 2026-07-07T07:00:00Z: no person named (ATTENDEE, X-ROUNDS-USERNAME or SUMMARY)',
    ]);
  });

  it('applies an override to its own series only, matched by the instant it changes whatever zone it is written in', async () => {
    const { shifts } = await plan(calendar(
      ...event('UID:reg1', 'SUMMARY:lee', 'DTSTART;TZID=Europe/London:20260706T080000', 'DTEND;TZID=Europe/London:20260706T200000', 'RRULE:FREQ=DAILY;COUNT=2'),
      ...event('UID:reg2', 'SUMMARY:chen', 'DTSTART;TZID=Europe/London:20260706T080000', 'DTEND;TZID=Europe/London:20260706T200000', 'RRULE:FREQ=DAILY;COUNT=2'),
      // reg2's second shift (08:00 London is 07:00 UTC in July) goes to Dr. Patel; reg2's first is cancelled. reg1 is untouched.
      ...event('UID:reg2', 'RECURRENCE-ID:20260707T070000Z', 'ATTENDEE:mailto:patel@hospital.example', 'DTSTART;TZID=Europe/London:20260707T080000', 'DTEND;TZID=Europe/London:20260707T200000'),
      ...event('UID:reg2', 'RECURRENCE-ID;TZID=Europe/London:20260706T080000', 'SUMMARY:chen', 'STATUS:CANCELLED', 'DTSTART;TZID=Europe/London:20260706T080000', 'DTEND;TZID=Europe/London:20260706T200000'),
    ), 'ics');
    const lee = USERS[0]!.id;
    expect(shifts).toEqual([
      { userId: lee, startsAt: Date.UTC(2026, 6, 6, 7), endsAt: Date.UTC(2026, 6, 6, 19) },
      { userId: lee, startsAt: Date.UTC(2026, 6, 7, 7), endsAt: Date.UTC(2026, 6, 7, 19) },
      { userId: USERS[1]!.id, startsAt: Date.UTC(2026, 6, 7, 7), endsAt: Date.UTC(2026, 6, 7, 19) },
    ]);
  });

  it('names overrides it cannot apply: a shift the series lacks, RANGE, a date that is none, no DTSTART, a move of more than 7 days', async () => {
    const series = ['SUMMARY:lee', 'RRULE:FREQ=DAILY;COUNT=3'];
    const issues = await refusal(calendar(
      ...event('UID:s', 'DTSTART:20260706T070000Z', 'DTEND:20260706T190000Z', ...series),
      ...event('UID:s', 'RECURRENCE-ID:20260706T090000Z', 'SUMMARY:chen', 'DTSTART:20260706T090000Z', 'DTEND:20260706T190000Z'),
      ...event('UID:s', 'RECURRENCE-ID;RANGE=THISANDFUTURE:20260707T070000Z', 'SUMMARY:chen', 'DTSTART:20260707T070000Z', 'DTEND:20260707T190000Z'),
      ...event('UID:s', 'RECURRENCE-ID:tomorrow', 'SUMMARY:chen', 'DTSTART:20260707T070000Z', 'DTEND:20260707T190000Z'),
      ...event('UID:s', 'RECURRENCE-ID:20260707T070000Z', 'SUMMARY:chen'),
      ...event('UID:s', 'RECURRENCE-ID:20260708T070000Z', 'SUMMARY:chen', 'DTSTART:20350708T070000Z', 'DTEND:20350708T190000Z'),
    ), 'ics');
    expect(issues).toEqual([
      expect.stringMatching(/^event 3 \(UID s\): changes this and every later shift \(RANGE=THISANDFUTURE\)/),
      expect.stringMatching(/^event 4 \(UID s\): RECURRENCE-ID: /),
      'event 1 (UID s), the shift changed for 2026-07-07T07:00:00Z: no DTSTART',
      'event 1 (UID s), the shift changed for 2026-07-08T07:00:00Z: moves the shift by more than 7 days (change the series, or add a shift of its own)',
      "event 2 (UID s): changes a shift the series does not have (its RECURRENCE-ID is none of the series' shifts within a year of its first)",
    ]);
  });

  it('names faulty events and imports nothing', async () => {
    const issues = await refusal(calendar(
      ...event('UID:ok', 'SUMMARY:lee', 'DTSTART:20260701T070000Z', 'DTEND:20260701T190000Z'),
      ...event('UID:nobody', 'SUMMARY:Dr. Nobody', 'DTSTART:20260702T070000Z', 'DTEND:20260702T190000Z'),
      ...event('UID:gap', 'SUMMARY:lee', 'DTSTART;TZID=Europe/London:20260329T013000', 'DTEND;TZID=Europe/London:20260329T080000'),
      ...event('UID:zone', 'SUMMARY:lee', 'DTSTART;TZID=Mars Standard Time:20260703T080000', 'DTEND;TZID=Mars Standard Time:20260703T200000'),
      ...event('UID:anon', 'DTSTART:20260704T070000Z', 'DTEND:20260704T190000Z'),
    ), 'ics');
    expect(issues).toEqual([
      'event 3 (UID gap): start: 2026-03-29 01:30 does not exist in Europe/London (the clocks go forward then)',
      'event 4 (UID zone): start: unknown time zone "Mars Standard Time" (neither an IANA time zone nor a VTIMEZONE in the file)',
      'event 5 (UID anon): no person named (ATTENDEE, X-ROUNDS-USERNAME or SUMMARY)',
      'event 2 (UID nobody): no account "Dr. Nobody" (a username, or the display name of one account)',
    ]);
    expect((await refusal('not a calendar', 'ics'))[0]).toMatch(/^the file is not valid iCalendar/);
  });
});
