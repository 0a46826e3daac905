import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import type { UserId } from '../../shared/ids';
import { holdersAt, resolveRole, type ScheduledShift } from '../../shared/roles/scheduleResolution';
import { STANDING_SHIFT_END } from '../../shared/wire/roles';
import { wallTimeToInstant } from './wallTime';

/*
 * Who holds a role when: a rota written in Europe/London (the hospital), read on a workstation in
 * America/New_York, across both daylight-saving changes of 2026 (the UK on 29 March and 25 October, the
 * US on 8 March and 1 November: for three weeks each spring and a week each autumn the two are 4 hours
 * apart instead of 5).
 */
const LEE = 'a0000000-0000-4000-8000-00000000000a' as UserId;
const PATEL = 'b0000000-0000-4000-8000-00000000000b' as UserId;
const CHEN = 'c0000000-0000-4000-8000-00000000000c' as UserId;
const ROTA = 'Europe/London';
const WORKSTATION = 'America/New_York';

/** A wall time in the rota's zone as an instant (refusing times that do not exist). */
function london(iso: string, edge: 'start' | 'end' = 'start'): number {
  const d = DateTime.fromISO(iso);
  const converted = wallTimeToInstant({ year: d.year, month: d.month, day: d.day, hour: d.hour, minute: d.minute }, ROTA, edge);
  if (!converted.ok) throw new Error(converted.reason);
  return converted.at;
}
const inNewYork = (at: number) => DateTime.fromMillis(at, { zone: WORKSTATION }).toFormat('yyyy-MM-dd HH:mm');
const shift = (userId: UserId, from: string, to: string): ScheduledShift => ({ userId, startsAt: london(from), endsAt: london(to, 'end') });

describe('schedule resolution', () => {
  // Days 08:00-20:00 and nights 20:00-08:00, Lee and Patel, around the spring change (Sunday 29 March 2026).
  const spring = [
    shift(LEE, '2026-03-28T08:00', '2026-03-28T20:00'),
    shift(PATEL, '2026-03-28T20:00', '2026-03-29T08:00'),
    shift(LEE, '2026-03-29T08:00', '2026-03-29T20:00'),
    shift(LEE, '2026-03-29T20:00', '2026-03-30T08:00'), // Lee does the day and the night after it
    shift(PATEL, '2026-03-30T08:00', '2026-03-30T20:00'),
  ];

  it('hands over at 08:00 and 20:00 London time, whichever side of the change, and says so in New York time', () => {
    const night = resolveRole(spring, london('2026-03-29T03:30'));
    expect(night.holders).toEqual([{ userId: PATEL, since: london('2026-03-28T20:00') }]);
    // The night that loses an hour is 11 hours long; it ends at 08:00 BST, which is 07:00 UTC and 03:00 in New York.
    expect(night.nextHandOver).toEqual({ at: Date.UTC(2026, 2, 29, 7), holders: [LEE] });
    expect(inNewYork(night.nextHandOver!.at)).toBe('2026-03-29 03:00');
    // The day before, 08:00 GMT was 04:00 in New York (already on daylight time since 8 March).
    expect(inNewYork(london('2026-03-28T08:00'))).toBe('2026-03-28 04:00');
    expect(london('2026-03-28T20:00') - london('2026-03-28T08:00')).toBe(12 * 3600_000);
    expect(london('2026-03-29T08:00') - london('2026-03-28T20:00')).toBe(11 * 3600_000);
  });

  it('counts a run of back-to-back shifts as one holding: "since" is when it began, the hand-over when it ends', () => {
    const lateEvening = resolveRole(spring, london('2026-03-29T23:00'));
    expect(lateEvening.holders).toEqual([{ userId: LEE, since: london('2026-03-29T08:00') }]);
    expect(lateEvening.nextHandOver).toEqual({ at: london('2026-03-30T08:00'), holders: [PATEL] });
    // At the boundary itself the new holder has it and the old one no longer does.
    expect(holdersAt(spring, london('2026-03-30T08:00'))).toEqual([PATEL]);
    expect(holdersAt(spring, london('2026-03-30T08:00') - 1)).toEqual([LEE]);
  });

  it('refuses a time that does not exist (the spring gap) and takes the autumn overlap so that no one is uncovered', () => {
    expect(wallTimeToInstant({ year: 2026, month: 3, day: 29, hour: 1, minute: 30 }, ROTA, 'start')).toEqual({ ok: false, reason: '2026-03-29 01:30 does not exist in Europe/London (the clocks go forward then)' });
    // 01:30 on 25 October happens twice (BST, then GMT): a shift starts at the first and ends at the second.
    const first = wallTimeToInstant({ year: 2026, month: 10, day: 25, hour: 1, minute: 30 }, ROTA, 'start');
    const second = wallTimeToInstant({ year: 2026, month: 10, day: 25, hour: 1, minute: 30 }, ROTA, 'end');
    expect(first).toEqual({ ok: true, at: Date.UTC(2026, 9, 25, 0, 30) });
    expect(second).toEqual({ ok: true, at: Date.UTC(2026, 9, 25, 1, 30) });
    // Overlapping hand-over: both hold the role for that hour, then only the new one.
    const autumn: ScheduledShift[] = [
      { userId: LEE, startsAt: london('2026-10-24T20:00'), endsAt: (second as { at: number }).at },
      { userId: CHEN, startsAt: (first as { at: number }).at, endsAt: london('2026-10-25T08:00', 'end') },
    ];
    const during = resolveRole(autumn, Date.UTC(2026, 9, 25, 1));
    expect(during.holders.map((h) => h.userId)).toEqual([LEE, CHEN]);
    expect(during.nextHandOver).toEqual({ at: Date.UTC(2026, 9, 25, 1, 30), holders: [CHEN] });
    // The autumn night is 13 hours long (20:00 BST to 08:00 GMT).
    expect(london('2026-10-25T08:00') - london('2026-10-24T20:00')).toBe(13 * 3600_000);
  });

  it('has no holder in a hole in the rota, and names the next one', () => {
    const hole = [shift(LEE, '2026-07-01T08:00', '2026-07-01T20:00'), shift(PATEL, '2026-07-02T08:00', '2026-07-02T20:00')];
    expect(resolveRole(hole, london('2026-07-01T22:00'))).toEqual({ holders: [], nextHandOver: { at: london('2026-07-02T08:00'), holders: [PATEL] } });
    expect(resolveRole(hole, london('2026-07-02T21:00'))).toEqual({ holders: [], nextHandOver: null });
    // In July London is on BST: 08:00 there is 03:00 in New York.
    expect(inNewYork(london('2026-07-02T08:00'))).toBe('2026-07-02 03:00');
  });

  it('shows no hand-over at the end of a standing shift (a directory group member), only the rota\'s', () => {
    const standing: ScheduledShift = { userId: CHEN, startsAt: london('2026-03-01T00:00'), endsAt: STANDING_SHIFT_END };
    const rota = shift(LEE, '2026-03-28T08:00', '2026-03-28T20:00');
    const before = resolveRole([standing, rota], london('2026-03-28T07:00'));
    expect(before.holders.map((h) => h.userId)).toEqual([CHEN]);
    expect(before.nextHandOver).toEqual({ at: london('2026-03-28T08:00'), holders: expect.arrayContaining([CHEN, LEE]) });
    const after = resolveRole([standing, rota], london('2026-03-28T21:00'));
    expect(after.holders.map((h) => h.userId)).toEqual([CHEN]);
    expect(after.nextHandOver).toBeNull();
  });
});
