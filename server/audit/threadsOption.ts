/**
 * `--threads` of `rounds-server audit export` and `rounds-audit verify`: whether a big audit log is read out
 * or checked on worker threads. `auto` (the default) uses them past a size where they pay; `never` keeps
 * the work on one core (a busy relay machine); `always` uses them whatever the size.
 */
import { Option } from 'commander';

export const THREAD_CHOICES = ['auto', 'always', 'never'] as const;
export type ThreadChoice = (typeof THREAD_CHOICES)[number];

export function threadsOption(what: string): Option {
  return new Option('--threads <when>', `${what} on worker threads: auto (past a size where they pay), always, or never (one core)`).choices(THREAD_CHOICES).default('auto');
}

/** The export's `readout` option for a `--threads` choice. */
export function readoutPlace(choice: ThreadChoice): 'auto' | 'thread' | 'here' {
  return choice === 'always' ? 'thread' : choice === 'never' ? 'here' : 'auto';
}
