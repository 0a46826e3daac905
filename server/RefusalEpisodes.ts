import { addressKey, type DeviceAddress } from '../shared/ids';
import type { AuditEvent } from './audit/AuditRecord';
import { EpisodeCounter, type Episode } from './audit/EpisodeCounter';

/**
 * The limits whose refusals are audited by episode rather than one by one. Most are the code the client
 * hears; SENDER_SHARE_FULL is told as RECIPIENT_QUEUE_FULL (with `share: 'sender'`) and DAILY_SEND_BUDGET as
 * SEND_RATE_LIMITED (the client does the same for each: waits for the recipient, or as long as Retry-After).
 */
export type RefusalReason =
  | 'RECIPIENT_QUEUE_FULL'
  | 'SENDER_SHARE_FULL'
  | 'SEND_RATE_LIMITED'
  | 'DAILY_SEND_BUDGET'
  | 'KEY_FETCH_RATE_LIMITED'
  | 'KEY_UPLOAD_RATE_LIMITED'
  | 'RELAY_STORAGE_FULL';

interface Tally {
  /** The device and user of the refusal that started the episode (the actor and subject of its records). */
  readonly actor: string;
  readonly subject: string;
  readonly reason: RefusalReason;
  envelopes: number;
  bytes: number;
  /** The account's devices that were refused, the users the refusals concerned, the recipient devices named. */
  readonly senders: Set<string>;
  readonly users: Set<string>;
  readonly devices: Set<string>;
}

export interface RefusalCounts {
  /** The users the refused request concerned (its recipients, the user fetched); the first is the episode's subject. */
  readonly users?: readonly string[];
  readonly envelopes?: number;
  readonly bytes?: number;
  /** Recipient devices whose queue (or the sender's share of it) was full. */
  readonly devices?: readonly string[];
}

/** Devices and users named in one record at most (the counts say how many there were). */
const MAX_NAMED = 20;

/**
 * Refusals by a rate, budget, queue or storage limit, audited by episode: one per sending account and
 * reason, whichever of its devices was refused and whomever it concerned (so no number of workstations
 * or colleagues multiplies the records). The first refusal is written at once, flagged as its reason
 * deserves, before the client hears it: the log shows an episode while it lasts, and a relay killed
 * meanwhile keeps it. The 10th, 100th, 1,000th... refusal is written at once too, with the counts so far.
 * Once none has come for `quietMs` (`closeQuiet`, run by RelayServer, or the account's next refusal for
 * that reason), one closing record gives the totals: requests, envelopes and bytes, the devices refused,
 * the users concerned, from when to when. A flood of refused envelopes thus costs a handful of records.
 *
 * Open episodes live in memory (one relay process). `closeAll` writes them on shutdown; a relay killed
 * with -9 loses only the closing totals of the episodes open then (their first record and last milestone
 * are written), never an envelope (the refused ones were not stored).
 */
export class RefusalEpisodes {
  readonly #episodes: EpisodeCounter<Tally>;

  constructor(
    private readonly write: (events: readonly AuditEvent[]) => Promise<void>,
    quietMs: number,
    maxOpen = 10_000,
  ) {
    this.#episodes = new EpisodeCounter(quietMs, maxOpen);
  }

  /** One refused request of `caller`. Resolves once the records due now are durably written. */
  async note(caller: DeviceAddress, reason: RefusalReason, at: number, counts: RefusalCounts = {}): Promise<void> {
    const device = addressKey(caller);
    const { episode, milestone, ended } = this.#episodes.note(`${caller.userId}\n${reason}`, at, () => ({
      actor: device, subject: counts.users?.[0] ?? '', reason, envelopes: 0, bytes: 0, senders: new Set(), users: new Set(), devices: new Set(),
    }));
    const { tally } = episode;
    tally.envelopes += counts.envelopes ?? 0;
    tally.bytes += counts.bytes ?? 0;
    tally.senders.add(device);
    for (const user of counts.users ?? []) tally.users.add(user);
    for (const d of counts.devices ?? []) tally.devices.add(d);
    const events = ended.map((e) => toAuditEvent(e, 'ended'));
    if (milestone) events.push(toAuditEvent(episode, episode.count === 1 ? 'started' : 'ongoing'));
    if (events.length > 0) await this.write(events);
  }

  get open(): number {
    return this.#episodes.open;
  }

  /** Writes the totals of the episodes that have been quiet for `quietMs`. */
  async closeQuiet(now: number): Promise<number> {
    return this.#close(this.#episodes.endQuiet(now));
  }

  /** Writes the totals of every open episode (on shutdown). */
  async closeAll(): Promise<number> {
    return this.#close(this.#episodes.endAll());
  }

  async #close(ended: readonly Episode<Tally>[]): Promise<number> {
    if (ended.length > 0) await this.write(ended.map((e) => toAuditEvent(e, 'ended')));
    return ended.length;
  }
}

/** Sending faster or more than any clinician does, or filling a colleague's share, is worth a look. */
const FLAGGED: Record<RefusalReason, boolean> = {
  // A full queue is usually only a colleague away for long (a flood that fills one is refused by the
  // sender's share, or its rate, first); a nearly full disk is the operator's, and logged.
  RECIPIENT_QUEUE_FULL: false,
  RELAY_STORAGE_FULL: false,
  SENDER_SHARE_FULL: true,
  SEND_RATE_LIMITED: true,
  DAILY_SEND_BUDGET: true,
  KEY_FETCH_RATE_LIMITED: true,
  KEY_UPLOAD_RATE_LIMITED: true,
};

/** Which audit record type an episode is: refused prekey fetches, refused key uploads, or refused envelopes. */
const RECORD_TYPE: Record<RefusalReason, AuditEvent['type']> = {
  RECIPIENT_QUEUE_FULL: 'envelope.refused',
  RELAY_STORAGE_FULL: 'envelope.refused',
  SENDER_SHARE_FULL: 'envelope.refused',
  SEND_RATE_LIMITED: 'envelope.refused',
  DAILY_SEND_BUDGET: 'envelope.refused',
  KEY_FETCH_RATE_LIMITED: 'bundle.refused',
  KEY_UPLOAD_RATE_LIMITED: 'keys.refused',
};

/**
 * `started` names the first refusal; `ongoing` (at the 10th, 100th...) and `ended` give the counts so
 * far, and the episode's first record is found by actor, reason and `from`.
 */
function toAuditEvent(episode: Episode<Tally>, state: 'started' | 'ongoing' | 'ended'): AuditEvent {
  const { tally } = episode;
  const named = (label: string, values: ReadonlySet<string>) =>
    values.size === 0 ? {} : { [label]: [...values].slice(0, MAX_NAMED).join(' '), [`${label.replace(/s$/, '')}Count`]: values.size };
  return {
    type: RECORD_TYPE[tally.reason],
    actor: tally.actor,
    subject: tally.subject,
    details: {
      reason: tally.reason,
      episode: state,
      requests: episode.count,
      ...(RECORD_TYPE[tally.reason] === 'envelope.refused' ? { envelopes: tally.envelopes, bytes: tally.bytes } : {}),
      ...named('devices', tally.devices),
      ...(state === 'started' ? {} : { ...named('senders', tally.senders), ...named('users', tally.users) }),
      from: episode.firstAt,
      to: episode.lastAt,
    },
    // The start and the totals of a flagged episode are both flagged: a compliance officer's list of
    // flagged records then shows each episode from beginning to end; the milestones in between are not.
    flagged: FLAGGED[tally.reason] && state !== 'ongoing',
  };
}
