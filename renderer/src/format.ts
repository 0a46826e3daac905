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

/** A search result's time: the time today, else the date and the time (never the time twice). */
export function formatResultTime(at: number, now = Date.now()): string {
  return dayKey(at) === dayKey(now) ? time.format(at) : `${short.format(at)}, ${time.format(at)}`;
}

/** A length of time in words: "30 seconds", "1 minute", "90 minutes", "2 hours" (never "0.1 minutes"). */
export function formatDuration(minutes: number): string {
  const seconds = Math.round(minutes * 60);
  if (seconds < 60) return plural(seconds, 'second');
  if (seconds % 60 !== 0) return `${plural(Math.floor(seconds / 60), 'minute')} ${plural(seconds % 60, 'second')}`;
  const whole = seconds / 60;
  if (whole >= 120 && whole % 60 === 0) return plural(whole / 60, 'hour');
  return plural(whole, 'minute');
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** A file's size for people: "820 bytes", "14 KB", "3.4 MB" (decimal units, as file managers show them). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return plural(bytes, 'byte');
  const [value, unit] = bytes < 1e6 ? [bytes / 1e3, 'KB'] : bytes < 1e9 ? [bytes / 1e6, 'MB'] : [bytes / 1e9, 'GB'];
  return `${value < 10 ? value.toFixed(1).replace(/\.0$/, '') : Math.round(value)} ${unit}`;
}
