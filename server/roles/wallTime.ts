import { DateTime } from 'luxon';

/*
 * Rota wall times ("08:00 on 29 March, Europe/London") to instants. Rota tools write local times in the
 * hospital's zone; twice a year those are not one instant each:
 * - in the spring gap (01:30 when the clocks go from 01:00 to 02:00) the time does not exist: refused, with
 *   the reason, so the person who wrote the rota fixes it rather than the relay guessing;
 * - in the autumn overlap (01:30 happens twice) a shift's start is the earlier 01:30 and its end the later:
 *   a shift is never shortened, so the hand-over overlaps (both hold the role) and no one is left uncovered.
 */

export interface WallTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second?: number;
}

export type Conversion = { readonly ok: true; readonly at: number } | { readonly ok: false; readonly reason: string };

const pad = (n: number) => String(n).padStart(2, '0');
export const describeWallTime = (w: WallTime): string => `${w.year}-${pad(w.month)}-${pad(w.day)} ${pad(w.hour)}:${pad(w.minute)}`;

const sameWall = (d: DateTime, w: WallTime) => d.year === w.year && d.month === w.month && d.day === w.day && d.hour === w.hour && d.minute === w.minute && d.second === (w.second ?? 0);

/** The instant of a wall time in `zone`; `edge` picks between the two instants of an autumn overlap. */
export function wallTimeToInstant(w: WallTime, zone: string, edge: 'start' | 'end'): Conversion {
  const guess = DateTime.fromObject({ ...w, second: w.second ?? 0, millisecond: 0 }, { zone });
  if (!guess.isValid) return { ok: false, reason: `${describeWallTime(w)} is not a date and time (${guess.invalidExplanation ?? guess.invalidReason ?? 'invalid'})` };
  // Every offset change in the tz database is at most 2 hours, most 1 hour or 30 minutes.
  const candidates = [-120, -60, -30, 0, 30, 60, 120]
    .map((minutes) => guess.toMillis() + minutes * 60_000)
    .filter((ms) => sameWall(DateTime.fromMillis(ms, { zone }), w));
  if (candidates.length === 0) return { ok: false, reason: `${describeWallTime(w)} does not exist in ${zone} (the clocks go forward then)` };
  return { ok: true, at: edge === 'start' ? Math.min(...candidates) : Math.max(...candidates) };
}

/** `YYYY-MM-DD HH:mm[:ss]` or `YYYY-MM-DDTHH:mm[:ss]` (a wall time), or undefined. */
export function parseWallTime(text: string): WallTime | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map((s) => (s === undefined ? 0 : Number(s))) as [number, number, number, number, number, number];
  return { year, month, day, hour, minute, second };
}

/** `YYYY-MM-DD` and `HH:mm` apart (as rota tools export a date column and time columns). */
export function parseDateAndTime(date: string, time: string): WallTime | undefined {
  return parseWallTime(`${date.trim()} ${time.trim()}`);
}

/** The same wall time on the next calendar day (an overnight shift's end written as 08:00). */
export function nextDay(w: WallTime): WallTime {
  const d = DateTime.fromObject({ year: w.year, month: w.month, day: w.day }, { zone: 'UTC' }).plus({ days: 1 });
  return { ...w, year: d.year, month: d.month, day: d.day };
}

/** An explicit instant (`…Z` or `…+01:00`), which needs no time zone, or undefined. */
export function parseExplicitInstant(text: string): number | undefined {
  if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(text.trim())) return undefined;
  const d = DateTime.fromISO(text.trim(), { setZone: true });
  return d.isValid ? d.toMillis() : undefined;
}

export const isBefore = (a: WallTime, b: WallTime): boolean => describeWallTime(a) + pad(a.second ?? 0) < describeWallTime(b) + pad(b.second ?? 0);
