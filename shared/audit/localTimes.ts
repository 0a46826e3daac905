/**
 * Times of audit records in UTC and in the relay's time zone, fast enough for a million rows: one
 * Intl.DateTimeFormat per export, the zone's offset remembered per quarter hour (every real offset
 * change falls on one) and each day's date once, so a row costs a little arithmetic, not a Date or an Intl call.
 */

const QUARTER_HOUR = 900_000;
const DAY = 86_400_000;
/** Quarter hours remembered (a year is 35,040); past that the memory starts again. */
const MAX_OFFSETS = 100_000;

const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
/** `2026-12-02` per day number, remembered for the days an export spans. */
const dayLabels = new Map<number, string>();
function dayOf(day: number): string {
  let label = dayLabels.get(day);
  if (label === undefined) {
    label = new Date(day * DAY).toISOString().slice(0, 10);
    if (dayLabels.size >= 10_000) dayLabels.clear();
    dayLabels.set(day, label);
  }
  return label;
}
/** `2026-12-02`, `13:05:00` and milliseconds of a wall-clock time in ms since the epoch, without a Date per call. */
function wallParts(wall: number): [string, string, string] {
  const day = Math.floor(wall / DAY);
  const ms = wall - day * DAY;
  const seconds = Math.floor(ms / 1000);
  const clock = `${TWO_DIGITS[Math.floor(seconds / 3600)] ?? '00'}:${TWO_DIGITS[Math.floor(seconds / 60) % 60] ?? '00'}:${TWO_DIGITS[seconds % 60] ?? '00'}`;
  return [dayOf(day), clock, THREE_DIGITS[ms % 1000] ?? '000'];
}
const MINUTE = 60_000;
/** `2026-12-02`, then `T` or a space, then `13:05:` for a wall-clock minute (minutes since the epoch). */
function minutePrefix(minute: number, separator: string): string {
  const day = Math.floor(minute / 1440);
  const inDay = minute - day * 1440;
  return `${dayOf(day)}${separator}${TWO_DIGITS[Math.floor(inDay / 60)] ?? '00'}:${TWO_DIGITS[inDay % 60] ?? '00'}:`;
}
/** `2026-12-02 13:05:00`. */
const plain = (wall: number) => {
  const [day, clock] = wallParts(wall);
  return `${day} ${clock}`;
};

export const validTime = (at: number): boolean => Number.isFinite(at) && Math.abs(at) <= 8.64e15;

export class LocalTimes {
  /** The IANA zone used (`UTC` when the one asked for is unknown to this runtime). */
  readonly zone: string;
  readonly #format: Intl.DateTimeFormat | null;
  readonly #offsets = new Map<number, { offset: number; label: string }>();
  /** The last quarter hour asked for: records come in time order, so it is nearly always the next one's too. */
  #lastQuarter = Number.NaN;
  #last = { offset: 0, label: 'UTC' };
  /** The minute of the last iso() and local() and its text up to the seconds: records come in time order. */
  #isoMinute = Number.NaN;
  #isoPrefix = '';
  #localMinute = Number.NaN;
  #localLabel = '';
  #localPrefix = '';

  constructor(timeZone: string) {
    let format: Intl.DateTimeFormat | null;
    try {
      format = timeZone === 'UTC' || timeZone === '' ? null : new Intl.DateTimeFormat('en-US', {
        timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'shortOffset',
      });
    } catch {
      format = null; // RangeError: a zone this runtime does not know; UTC is said instead of a wrong local time.
    }
    this.#format = format;
    this.zone = format ? timeZone : 'UTC';
  }

  /** `2026-12-02T13:05:00.000Z`, or an empty string for an impossible time. */
  iso(at: number): string {
    if (!validTime(at) || at < 0 || at >= 253402300800000) return validTime(at) ? new Date(at).toISOString() : '';
    const whole = Math.floor(at);
    const minute = Math.floor(whole / MINUTE);
    if (minute !== this.#isoMinute) {
      this.#isoPrefix = minutePrefix(minute, 'T');
      this.#isoMinute = minute;
    }
    const rest = whole - minute * MINUTE;
    return `${this.#isoPrefix}${TWO_DIGITS[Math.floor(rest / 1000)] ?? '00'}.${THREE_DIGITS[rest % 1000] ?? '000'}Z`;
  }

  /** `2026-12-02 13:05:00 UTC`. */
  utc(at: number): string {
    return validTime(at) ? `${plain(at)} UTC` : 'unknown time';
  }

  /** `2026-12-02 14:05:00 GMT+1` in the zone (`… UTC` when the zone is UTC). */
  local(at: number): string {
    if (!validTime(at)) return 'unknown time';
    const { offset, label } = this.#offset(at);
    const wall = at + offset;
    const minute = Math.floor(wall / MINUTE);
    if (minute !== this.#localMinute || label !== this.#localLabel) {
      this.#localPrefix = minutePrefix(minute, ' ');
      this.#localMinute = minute;
      this.#localLabel = label;
    }
    return `${this.#localPrefix}${TWO_DIGITS[Math.floor((wall - minute * MINUTE) / 1000)] ?? '00'} ${label}`;
  }

  /** The zone's offset label at that time: `GMT+1`, `UTC`. */
  label(at: number): string {
    return validTime(at) ? this.#offset(at).label : this.zone;
  }

  /** The local calendar day (days since 1970-01-01 in the zone), for per-day counts. */
  localDay(at: number): number {
    return Math.floor((at + this.#offset(at).offset) / DAY);
  }

  /** `2026-12-02` for a day number of localDay. */
  static dayLabel(day: number): string {
    return new Date(day * DAY).toISOString().slice(0, 10);
  }

  #offset(at: number): { offset: number; label: string } {
    if (!this.#format || !validTime(at)) return { offset: 0, label: 'UTC' };
    const quarter = Math.floor(at / QUARTER_HOUR);
    if (quarter === this.#lastQuarter) return this.#last;
    let known = this.#offsets.get(quarter);
    if (!known) {
      const start = quarter * QUARTER_HOUR;
      const parts: Record<string, string> = {};
      for (const p of this.#format.formatToParts(start)) parts[p.type] = p.value;
      const wall = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
      const offset = Number.isFinite(wall) ? wall - start : 0;
      known = { offset, label: parts.timeZoneName === 'GMT' || !parts.timeZoneName ? (offset === 0 ? 'GMT' : 'UTC') : parts.timeZoneName };
      if (this.#offsets.size >= MAX_OFFSETS) this.#offsets.clear();
      this.#offsets.set(quarter, known);
    }
    this.#lastQuarter = quarter;
    this.#last = known;
    return known;
  }
}
