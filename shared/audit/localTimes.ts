/**
 * Times of audit records in UTC and in the relay's time zone, fast enough for a million rows: one
 * Intl.DateTimeFormat per export, and the zone's offset remembered per quarter hour (every real offset
 * change falls on one), so each row costs a Date and a string, not an Intl call.
 */

const QUARTER_HOUR = 900_000;
const DAY = 86_400_000;
/** Quarter hours remembered (a year is 35,040); past that the memory starts again. */
const MAX_OFFSETS = 100_000;

/** `2026-12-02 13:05:00` (UTC) from an ISO string. */
const plain = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;

export const validTime = (at: number): boolean => Number.isFinite(at) && Math.abs(at) <= 8.64e15;

export class LocalTimes {
  /** The IANA zone used (`UTC` when the one asked for is unknown to this runtime). */
  readonly zone: string;
  readonly #format: Intl.DateTimeFormat | null;
  readonly #offsets = new Map<number, { offset: number; label: string }>();

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
    return validTime(at) ? new Date(at).toISOString() : '';
  }

  /** `2026-12-02 13:05:00 UTC`. */
  utc(at: number): string {
    return validTime(at) ? `${plain(new Date(at).toISOString())} UTC` : 'unknown time';
  }

  /** `2026-12-02 14:05:00 GMT+1` in the zone (`… UTC` when the zone is UTC). */
  local(at: number): string {
    if (!validTime(at)) return 'unknown time';
    const { offset, label } = this.#offset(at);
    return `${plain(new Date(at + offset).toISOString())} ${label}`;
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
    return known;
  }
}
