const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const day = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const short = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });

export function formatTime(at: number): string {
  return time.format(at);
}

export function dayKey(at: number): string {
  const d = new Date(at);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function formatDay(at: number, now = Date.now()): string {
  if (dayKey(at) === dayKey(now)) return 'Today';
  if (dayKey(at) === dayKey(now - 86_400_000)) return 'Yesterday';
  return day.format(at);
}

/** In the conversation list: the time today, else the date. */
export function formatActivity(at: number, now = Date.now()): string {
  return dayKey(at) === dayKey(now) ? time.format(at) : short.format(at);
}

export function initials(name: string): string {
  const words = name.replace(/^(dr|nurse|mr|ms|mrs|prof)\.?\s+/i, '').split(/\s+/).filter(Boolean);
  return ((words[0]?.[0] ?? '?') + (words.length > 1 ? (words.at(-1)?.[0] ?? '') : '')).toUpperCase();
}
