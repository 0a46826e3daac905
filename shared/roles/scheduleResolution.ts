import type { UserId } from '../ids';
import { STANDING_SHIFT_END } from '../wire/roles';

/*
 * Who holds an on-call role at an instant, from its shifts (issue 19). Pure: instants in, instants out, all
 * in UTC milliseconds; time zones matter only when a rota's wall times become instants (the import) and when
 * a screen shows one. A shift covers [startsAt, endsAt): at 08:00 exactly the day shift holds the role and
 * the night shift no longer does. Overlapping shifts mean two holders at once (both receive).
 */

export interface ScheduledShift {
  readonly userId: UserId;
  readonly startsAt: number;
  readonly endsAt: number;
}

export interface ResolvedHolder {
  readonly userId: UserId;
  /** The start of the unbroken run of shifts (back to back or overlapping) that covers the instant. */
  readonly since: number;
}

export interface ResolvedHandOver {
  readonly at: number;
  /** Who holds the role from `at` (empty: no one), in the order of their shifts' starts. */
  readonly holders: readonly UserId[];
}

export interface RoleResolution {
  readonly holders: readonly ResolvedHolder[];
  /** The first later instant at which the set of holders changes, or null when the shifts given show none. */
  readonly nextHandOver: ResolvedHandOver | null;
}

/** How far back a store reads to find when a run of shifts began, and ahead to find the next hand-over. */
export const RESOLUTION_REACH_MS = 31 * 24 * 3600_000;

const covers = (s: ScheduledShift, at: number) => s.startsAt <= at && at < s.endsAt;

/** The users holding the role at `at`, each once, in the order of their covering shifts' starts. */
export function holdersAt(shifts: readonly ScheduledShift[], at: number): UserId[] {
  const covering = shifts.filter((s) => covers(s, at)).sort((a, b) => a.startsAt - b.startsAt || a.userId.localeCompare(b.userId));
  return [...new Set(covering.map((s) => s.userId))];
}

/** When `userId` began holding the role without a break up to `at` (they hold it at `at`). */
function holdingSince(shifts: readonly ScheduledShift[], userId: UserId, at: number): number {
  const own = shifts.filter((s) => s.userId === userId).sort((a, b) => b.endsAt - a.endsAt || a.startsAt - b.startsAt);
  let since = Math.min(...own.filter((s) => covers(s, at)).map((s) => s.startsAt));
  // Walk back through shifts that end at or after the run's start (back to back or overlapping).
  for (let extended = true; extended; ) {
    extended = false;
    for (const s of own) {
      if (s.startsAt < since && s.endsAt >= since) {
        since = s.startsAt;
        extended = true;
      }
    }
  }
  return since;
}

const sameSet = (a: readonly UserId[], b: readonly UserId[]) => a.length === b.length && a.every((u) => b.includes(u));

/** Holders at `at` with since when, and the next hand-over after `at`. */
export function resolveRole(shifts: readonly ScheduledShift[], at: number): RoleResolution {
  const now = holdersAt(shifts, at);
  const holders = now.map((userId) => ({ userId, since: holdingSince(shifts, userId, at) }));
  // A standing shift's end (a directory group's member: STANDING_SHIFT_END) is no hand-over anyone will see.
  const boundaries = [...new Set(shifts.flatMap((s) => [s.startsAt, s.endsAt]).filter((t) => t > at && t < STANDING_SHIFT_END))].sort((a, b) => a - b);
  for (const t of boundaries) {
    const then = holdersAt(shifts, t);
    if (!sameSet(then, now)) return { holders, nextHandOver: { at: t, holders: then } };
  }
  return { holders, nextHandOver: null };
}
