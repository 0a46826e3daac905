import { addressKey, type DeviceAddress } from '../../../shared/ids';
import type { Clock } from '../Clock';

/** An episode ends (and is audited, once) after this long without another unreadable envelope from its sender. */
export const UNREADABLE_EPISODE_QUIET_MS = 5 * 60_000;

interface Episode {
  count: number;
  readonly codes: Map<string, number>;
  readonly firstAt: number;
  lastAt: number;
  readonly firstEnvelope: string;
  readonly firstError: string;
}

/**
 * Envelopes that could not be read (garbage, a broken session), counted per sender device: a flood of them
 * costs one local audit record per episode (sender, count, error codes, first envelope id and its error,
 * from and to), never one per envelope, and never content. Open episodes are in memory; the client writes
 * them when they go quiet and when it stops (before the profile locks), so only a crash loses one.
 */
export class UnreadableEnvelopes {
  readonly #open = new Map<string, Episode>();

  constructor(
    private readonly clock: Clock,
    private readonly write: (details: Record<string, string>) => void,
  ) {}

  /** One unreadable envelope; `error` is described by code and message only (never content). */
  note(envelope: { readonly id: string; readonly sender: DeviceAddress }, code: string, error: string): void {
    const sender = addressKey(envelope.sender);
    const now = this.clock.now();
    const episode = this.#open.get(sender) ?? { count: 0, codes: new Map<string, number>(), firstAt: now, lastAt: now, firstEnvelope: envelope.id, firstError: error.slice(0, 200) };
    episode.count++;
    episode.lastAt = now;
    episode.codes.set(code, (episode.codes.get(code) ?? 0) + 1);
    this.#open.set(sender, episode);
  }

  /** Writes the episodes that have gone quiet, or every open one (`all`, when the client stops). */
  flush(all: boolean): void {
    const now = this.clock.now();
    for (const [sender, episode] of this.#open) {
      if (!all && now - episode.lastAt < UNREADABLE_EPISODE_QUIET_MS) continue;
      this.#open.delete(sender);
      this.write({
        sender, count: String(episode.count), codes: [...episode.codes].map(([code, n]) => `${code}:${n}`).join(' '),
        envelope: episode.firstEnvelope, error: episode.firstError, from: String(episode.firstAt), to: String(episode.lastAt),
      });
    }
  }
}
