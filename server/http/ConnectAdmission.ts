import { EpisodeCounter, type Episode } from '../audit/EpisodeCounter';
import type { ConnectAdmissionLimits } from '../RelayConfig';
import { RelayFailure } from '../RelayFailure';

/** Why a connect was shed: too many authentications under way, or the event loop running late. */
export type ShedReason = 'connecting' | 'lagging';

interface ShedTally {
  connecting: number;
  lagging: number;
  /** The most authentications under way, the worst lag and the longest Retry-After seen in the episode. */
  maxConnecting: number;
  maxLagMs: number;
  maxRetryAfterSeconds: number;
}

/** A connect let through: `leave` once its authentication is over, whatever the outcome (twice does nothing). */
export interface Admitted {
  leave(): void;
}

/** One episode at a time: shedding is the relay's state, not any account's. */
const EPISODE_KEY = 'connects';

/**
 * Load shedding for the relay's front door (issue 16's reconnect storm). A relay restarted under 10,000
 * workstations gets all of them at once; rather than queue unbounded work (authentications, sockets,
 * queue pushes) it answers a connect it cannot take now with RELAY_BUSY (HTTP 503) and a Retry-After.
 * Shed when:
 * - `maxConnecting` authentications are under way already (with an asynchronous store each one waits for
 *   the database; past this they would only pile up), or
 * - the event loop runs more than `maxEventLoopLagMs` late (the relay is behind on work it has accepted;
 *   more would only make every connection slower, the ones already delivering too).
 *
 * Retry-After spreads the herd instead of sending it back in step: shed connects are handed return times
 * `connectsPerSecond` apart (at least a second away, at most `maxRetryAfterSeconds`), like tickets, so
 * 10,000 shed at once come back over 10 s at the default 1,000 a second, and clients add their own jitter.
 *
 * It can only answer connects the relay has accepted: the listen backlog (`listenBacklog`, given to
 * listen() by RelayServer) must hold a storm's burst, or the kernel drops connects before the relay sees
 * them, and those clients retry on TCP's own schedule (1, 3, 7, 15, 31, 63 s), told nothing.
 *
 * Shedding is logged by episode, never per request: its start, its 10th, 100th... shed connect, and its
 * totals once none was shed for `quietMs`. Nothing here is about an account (shedding happens before the
 * credential is looked at), so none of it goes to the audit log. The state is this process's own load:
 * two relays behind a balancer each shed their own, nothing to share.
 */
export class ConnectAdmission {
  readonly #episodes: EpisodeCounter<ShedTally>;
  #connecting = 0;
  /** When the next shed connect is told to come back (ms, on `now`'s clock). */
  #nextReturnAt = 0;

  constructor(
    private readonly limits: ConnectAdmissionLimits,
    private readonly now: () => number,
    /** How late the event loop runs now, in ms (EventLoopLag in the relay, a fixed value in tests). */
    private readonly lagMs: () => number,
    private readonly log: (line: string) => void,
    quietMs = 10_000,
  ) {
    this.#episodes = new EpisodeCounter(quietMs, 1);
  }

  /** Authentications under way. */
  get connecting(): number {
    return this.#connecting;
  }

  /** Lets a connect through, or refuses it with RELAY_BUSY and when to come back. */
  enter(): Admitted | RelayFailure {
    const lag = this.lagMs();
    const reason: ShedReason | null = this.#connecting >= this.limits.maxConnecting ? 'connecting' : lag > this.limits.maxEventLoopLagMs ? 'lagging' : null;
    if (reason !== null) return this.#shed(reason, lag);
    this.#connecting++;
    let left = false;
    return {
      leave: () => {
        if (left) return;
        left = true;
        this.#connecting--;
      },
    };
  }

  /** Logs the totals of an episode that has been quiet long enough (the relay calls this now and then). */
  endQuiet(): void {
    for (const episode of this.#episodes.endQuiet(this.now())) this.log(describe(episode, 'ended'));
  }

  /** Logs the totals of the open episode, if any (on shutdown). */
  endAll(): void {
    for (const episode of this.#episodes.endAll()) this.log(describe(episode, 'ended'));
  }

  #shed(reason: ShedReason, lag: number): RelayFailure {
    const now = this.now();
    const retryAfterSeconds = this.#returnTime(now);
    const { episode, milestone, ended } = this.#episodes.note(EPISODE_KEY, now, () => ({ connecting: 0, lagging: 0, maxConnecting: 0, maxLagMs: 0, maxRetryAfterSeconds: 0 }));
    const { tally } = episode;
    tally[reason]++;
    tally.maxConnecting = Math.max(tally.maxConnecting, this.#connecting);
    tally.maxLagMs = Math.max(tally.maxLagMs, lag);
    tally.maxRetryAfterSeconds = Math.max(tally.maxRetryAfterSeconds, retryAfterSeconds);
    for (const e of ended) this.log(describe(e, 'ended'));
    if (milestone) this.log(describe(episode, episode.count === 1 ? 'started' : 'ongoing'));
    const why = reason === 'connecting' ? `${this.#connecting} connections are authenticating` : `the relay is running ${Math.round(lag)} ms behind`;
    return new RelayFailure('RELAY_BUSY', `the relay is busy (${why}); try again in ${retryAfterSeconds} s`, { retryAfterSeconds, retryAfterMs: retryAfterSeconds * 1000 });
  }

  /** The next free return time, in whole seconds from now: shed connects come back `connectsPerSecond` apart. */
  #returnTime(now: number): number {
    const maxMs = this.limits.maxRetryAfterSeconds * 1000;
    this.#nextReturnAt = Math.min(Math.max(this.#nextReturnAt, now + 1000), now + maxMs);
    const seconds = Math.max(1, Math.floor((this.#nextReturnAt - now) / 1000));
    this.#nextReturnAt += 1000 / this.limits.connectsPerSecond;
    return seconds;
  }
}

/** One log line per milestone of an episode: counts only (no addresses, no credentials: nothing was read yet). */
function describe(episode: Episode<ShedTally>, state: 'started' | 'ongoing' | 'ended'): string {
  const { tally } = episode;
  const span = state === 'ended' ? ` over ${((episode.lastAt - episode.firstAt) / 1000).toFixed(1)} s` : '';
  return `relay busy, shedding connects (${state}): ${episode.count} shed${span} (${tally.connecting} with too many authenticating, at most ${tally.maxConnecting}; ${tally.lagging} with the event loop late, at most ${Math.round(tally.maxLagMs)} ms); Retry-After up to ${tally.maxRetryAfterSeconds} s`;
}
