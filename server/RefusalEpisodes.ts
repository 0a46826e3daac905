import type { AuditEvent } from './audit/AuditRecord';

/** The limits whose refusals are audited by episode rather than one by one. */
export type RefusalReason = 'RECIPIENT_QUEUE_FULL' | 'SEND_RATE_LIMITED' | 'KEY_FETCH_RATE_LIMITED';

interface Episode {
  readonly actor: string;
  readonly reason: RefusalReason;
  readonly subject: string;
  readonly firstAt: number;
  lastAt: number;
  requests: number;
  envelopes: number;
  bytes: number;
  readonly devices: Set<string>;
}

/** Devices named in one record at most (the count says how many there were). */
const MAX_DEVICES_NAMED = 20;
/** Open episodes held at most; past this every open one is written out at once. */
const MAX_OPEN = 10_000;

/**
 * Refusals by a rate or queue limit, audited once per episode: the first refusal of one device, for one
 * reason (and one target user), opens an episode; every further one only counts; once none has come for
 * `quietMs` the episode is written as one record (who, why, how many requests, envelopes and bytes, from
 * when to when). A flood of refused envelopes thus costs one audit record, not one per envelope.
 *
 * Open episodes live in memory (one relay process; a later issue moves them to PostgreSQL with the rate
 * limits). `closeAll` writes them on shutdown; a relay killed with -9 loses the records of the episodes
 * still open, never an envelope (the refused ones were not stored).
 */
export class RefusalEpisodes {
  readonly #open = new Map<string, Episode>();

  constructor(
    private readonly write: (events: readonly AuditEvent[]) => Promise<void>,
    private readonly quietMs: number,
  ) {}

  /** One refused request: `subject` is the user it concerned (the recipient, the fetched user) or ''. */
  note(actor: string, reason: RefusalReason, subject: string, at: number, counts: { envelopes?: number; bytes?: number; devices?: readonly string[] } = {}): void {
    const key = `${actor}\n${reason}\n${subject}`;
    let episode = this.#open.get(key);
    if (!episode) {
      episode = { actor, reason, subject, firstAt: at, lastAt: at, requests: 0, envelopes: 0, bytes: 0, devices: new Set() };
      this.#open.set(key, episode);
    }
    episode.lastAt = Math.max(episode.lastAt, at);
    episode.requests++;
    episode.envelopes += counts.envelopes ?? 0;
    episode.bytes += counts.bytes ?? 0;
    for (const device of counts.devices ?? []) episode.devices.add(device);
  }

  get open(): number {
    return this.#open.size;
  }

  /** Writes the episodes that have been quiet for `quietMs` (every open one when there are too many). */
  async closeQuiet(now: number): Promise<number> {
    return this.#close((episode) => this.#open.size > MAX_OPEN || now - episode.lastAt >= this.quietMs);
  }

  /** Writes every open episode (on shutdown). */
  async closeAll(): Promise<number> {
    return this.#close(() => true);
  }

  async #close(done: (episode: Episode) => boolean): Promise<number> {
    const closing: Episode[] = [];
    for (const [key, episode] of this.#open) {
      if (!done(episode)) continue;
      closing.push(episode);
      this.#open.delete(key);
    }
    if (closing.length > 0) await this.write(closing.map(toAuditEvent));
    return closing.length;
  }
}

function toAuditEvent(episode: Episode): AuditEvent {
  const devices = [...episode.devices];
  return {
    type: episode.reason === 'KEY_FETCH_RATE_LIMITED' ? 'bundle.refused' : 'envelope.refused',
    actor: episode.actor,
    subject: episode.subject,
    details: {
      reason: episode.reason,
      requests: episode.requests,
      ...(episode.reason === 'KEY_FETCH_RATE_LIMITED' ? {} : { envelopes: episode.envelopes, bytes: episode.bytes }),
      ...(devices.length > 0 ? { devices: devices.slice(0, MAX_DEVICES_NAMED).join(' '), deviceCount: devices.length } : {}),
      from: episode.firstAt,
      to: episode.lastAt,
    },
    // Sending or fetching keys faster than any clinician does is worth a look; a full queue is usually
    // only a colleague away for long (and a flood that fills one is rate-limited, hence flagged, first).
    flagged: episode.reason !== 'RECIPIENT_QUEUE_FULL',
  };
}
