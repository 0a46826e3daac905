/** Small pieces of plain English shared by the audit sentences and the report. */
import type { AuditParty } from './people';

export const capitalise = (s: string): string => (s === '' ? s : s.charAt(0).toUpperCase() + s.slice(1));

/** 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st… */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}

/**
 * Made on first use, not when the module loads: the relay imports this module at start-up, and a number
 * format reads about 5 MiB of ICU's data out of Node's binary into the process's resident memory.
 */
let numbers: Intl.NumberFormat | undefined;
/** 1,234,567 (0 to 999 as they are: no Intl call for the counts in most sentences). */
export const formatNumber = (n: number): string => (Number.isInteger(n) && n >= 0 && n < 1000 && !Object.is(n, -0) ? String(n) : (numbers ??= new Intl.NumberFormat('en-US')).format(n));
/** "1 record", "2 records". */
export const count = (n: number, one: string, many = `${one}s`): string => `${formatNumber(n)} ${n === 1 ? one : many}`;

/** Each person once, by name: "Dr. B (bjones, nurse) and Dr. C (ccole, clinician)". */
export function listPeople(parties: readonly AuditParty[], exceptUser: string | null = null): string {
  const seen = new Map<string, string>();
  for (const p of parties) {
    const key = p.userId ?? p.raw;
    if (exceptUser !== null && key === exceptUser && parties.some((q) => (q.userId ?? q.raw) !== exceptUser)) continue;
    if (!seen.has(key)) seen.set(key, p.label);
  }
  const names = [...seen.values()];
  if (names.length <= 1) return names[0] ?? 'no one';
  return names.length > 4 ? `${names.slice(0, 4).join(', ')} and ${names.length - 4} more` : `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}`;
}

const UNTIDY = / {2}| [.,:;)]/;
/** Double spaces and spaces before punctuation left by empty parts of a sentence (tested first: most sentences have none). */
export const tidy = (s: string): string => (UNTIDY.test(s) ? s.replace(/ {2,}/g, ' ').replace(/ ([.,:;)])/g, '$1') : s);
