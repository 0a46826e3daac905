/** One run of repeats of one kind of event under one key, with what the caller tallies about it. */
export interface Episode<T> {
  readonly key: string;
  readonly firstAt: number;
  lastAt: number;
  /** Occurrences so far (the first is 1). */
  count: number;
  readonly tally: T;
}

export interface Noted<T> {
  readonly episode: Episode<T>;
  /**
   * This occurrence is the episode's 1st, 10th, 100th, 1,000th...: worth an audit record now, with the
   * count so far. An episode of n occurrences thus writes about log10(n) + 1 records while it lasts.
   */
  readonly milestone: boolean;
  /**
   * Episodes this call ended: the key's previous one (quiet for too long before this occurrence), or the
   * one noted least recently, pushed out because too many were open.
   */
  readonly ended: readonly Episode<T>[];
}

/**
 * Counts repeats per key by episode, for audit records that must show every episode and its size at once
 * yet cannot be made to grow with the repeats: an episode starts with a key's first occurrence, and ends
 * after `quietMs` without one (`endQuiet`, or the key's next occurrence), on `end`, or when more than
 * `maxOpen` are open (the least recent first, so memory stays bounded under a flood of new keys). The
 * caller writes a record at each milestone (the first occurrence at once, then the 10th, 100th...) and,
 * if it wants totals, one when the episode ends.
 *
 * In memory: a relay that stops without `endAll` (kill -9, power) loses only the closing totals of the
 * episodes open then; their first occurrence and last milestone are already in the log. A restart starts
 * new episodes, which costs at most one more record each.
 *
 * Used for refused sign-ins and credentials (auth/RepeatCounter) and for refused deliveries
 * (RefusalEpisodes).
 */
export class EpisodeCounter<T> {
  /** Ordered by last occurrence, least recent first (an occurrence moves its episode to the end). */
  readonly #open = new Map<string, Episode<T>>();

  constructor(
    private readonly quietMs: number,
    private readonly maxOpen = 10_000,
  ) {}

  /** Counts one occurrence under `key` at `at`; `start` makes the tally of an episode this occurrence starts. */
  note(key: string, at: number, start: () => T): Noted<T> {
    const ended: Episode<T>[] = [];
    let episode = this.#open.get(key);
    this.#open.delete(key);
    if (episode && at - episode.lastAt >= this.quietMs) {
      ended.push(episode);
      episode = undefined;
    }
    episode ??= { key, firstAt: at, lastAt: at, count: 0, tally: start() };
    episode.count++;
    episode.lastAt = Math.max(episode.lastAt, at);
    this.#open.set(key, episode);
    if (this.#open.size > this.maxOpen) {
      const oldest = this.#open.values().next().value;
      if (oldest !== undefined) {
        this.#open.delete(oldest.key);
        ended.push(oldest);
      }
    }
    return { episode, milestone: isPowerOfTen(episode.count), ended };
  }

  /** Ends the key's episode (after a success, or when an admin acted on it); returns it, if one was open. */
  end(key: string): Episode<T> | undefined {
    const episode = this.#open.get(key);
    this.#open.delete(key);
    return episode;
  }

  /** Ends and returns the episodes without an occurrence for `quietMs` before `now`. */
  endQuiet(now: number): Episode<T>[] {
    const ended: Episode<T>[] = [];
    for (const [key, episode] of this.#open) {
      if (now - episode.lastAt < this.quietMs) continue;
      this.#open.delete(key);
      ended.push(episode);
    }
    return ended;
  }

  /** Ends and returns every open episode (on shutdown). */
  endAll(): Episode<T>[] {
    const ended = [...this.#open.values()];
    this.#open.clear();
    return ended;
  }

  get open(): number {
    return this.#open.size;
  }
}

function isPowerOfTen(n: number): boolean {
  let x = n;
  while (x >= 10 && x % 10 === 0) x /= 10;
  return x === 1;
}
