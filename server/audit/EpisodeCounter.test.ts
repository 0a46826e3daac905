import { describe, expect, it } from 'vitest';
import { RepeatCounter } from '../auth/RepeatCounter';
import { EpisodeCounter } from './EpisodeCounter';

/* The one episode mechanism behind refused sign-ins, credentials and deliveries, in virtual time. */
describe('EpisodeCounter', () => {
  const QUIET = 60_000;

  it('marks the 1st, 10th, 100th and 1,000th occurrence of an episode for a record now, and nothing between', () => {
    const episodes = new EpisodeCounter<null>(QUIET);
    const marked: number[] = [];
    for (let i = 0; i < 2500; i++) {
      const { episode, milestone } = episodes.note('device 1', i, () => null);
      if (milestone) marked.push(episode.count);
    }
    expect(marked).toEqual([1, 10, 100, 1000]);
  });

  it('ends an episode after a quiet spell, handing it back with its totals, and starts the next from one', () => {
    const episodes = new EpisodeCounter<{ bytes: number }>(QUIET);
    for (let at = 0; at < 5; at++) episodes.note('k', at * 1000, () => ({ bytes: 0 })).episode.tally.bytes += 10;
    expect(episodes.endQuiet(4000 + QUIET - 1)).toEqual([]);
    // The next occurrence after the quiet spell ends the old episode itself (no sweep ran meanwhile).
    const next = episodes.note('k', 4000 + QUIET, () => ({ bytes: 0 }));
    expect(next.ended).toEqual([{ key: 'k', firstAt: 0, lastAt: 4000, count: 5, tally: { bytes: 50 } }]);
    expect(next).toMatchObject({ milestone: true, episode: { count: 1, firstAt: 4000 + QUIET } });
    expect(episodes.endQuiet(4000 + 2 * QUIET).map((e) => e.count)).toEqual([1]);
    expect(episodes.open).toBe(0);
  });

  it('holds at most maxOpen episodes under a flood of new keys, ending the least recent first', () => {
    const episodes = new EpisodeCounter<null>(QUIET, 3);
    for (const key of ['a', 'b', 'c']) episodes.note(key, 0, () => null);
    episodes.note('a', 1, () => null);
    expect(episodes.note('d', 2, () => null).ended.map((e) => e.key)).toEqual(['b']);
    expect(episodes.open).toBe(3);
    expect(episodes.endAll().map((e) => e.key).sort()).toEqual(['a', 'c', 'd']);
  });

  it('keeps RepeatCounter (sign-in throttling, refused credentials) answering as before', () => {
    const repeats = new RepeatCounter(QUIET, 2);
    const audited = Array.from({ length: 12 }, (_, i) => repeats.note('scope', i * 1000)).filter((r) => r.audit).map((r) => r.count);
    expect(audited).toEqual([1, 10]);
    expect(repeats.note('scope', 11_000 + QUIET)).toEqual({ count: 1, audit: true });
    repeats.end('scope');
    expect(repeats.note('scope', 11_001 + QUIET)).toEqual({ count: 1, audit: true });
    // Bounded: a third key pushes the least recent out, which then starts again.
    repeats.note('x', 20_000 + QUIET);
    repeats.note('y', 20_001 + QUIET);
    expect(repeats.note('scope', 20_002 + QUIET)).toEqual({ count: 1, audit: true });
  });
});
