import { EpisodeCounter } from '../audit/EpisodeCounter';

/**
 * Counts repeats of one kind of event per key (a device whose credential keeps being refused, a scope
 * that keeps being throttled), so the audit log holds the first occurrence of each episode and then the
 * 10th, 100th, 1,000th... with the count so far: an admin sees the episode and its size, and a client
 * retrying in a loop (or an attacker) cannot fill the log. An episode ends after `quietMs` without one.
 * In memory: a restart starts new episodes, which costs at most one more record each. The episodes are
 * the relay's one EpisodeCounter (refused deliveries use it too, with closing totals).
 */
export class RepeatCounter {
  readonly #episodes: EpisodeCounter<null>;

  constructor(
    quietMs: number,
    /** Keys remembered at most (the oldest is forgotten first, so memory stays bounded under a flood). */
    maxKeys = 10_000,
  ) {
    this.#episodes = new EpisodeCounter(quietMs, maxKeys);
  }

  /** Counts one occurrence; `audit` says whether this one goes into the log. */
  note(key: string, now: number): { count: number; audit: boolean } {
    const { episode, milestone } = this.#episodes.note(key, now, () => null);
    return { count: episode.count, audit: milestone };
  }

  /** Ends the key's episode (after a success, or when an admin acted on it). */
  end(key: string): void {
    this.#episodes.end(key);
  }
}
