import type { UserId } from '../../../shared/ids';
import { MAX_PRESENCE_QUERY, availablePresence, presenceAt, type Presence, type PresenceStatus, type PresenceUpdate } from '../../../shared/wire/presence';
import type { Scheduler } from '../Clock';
import { RelayRequestError } from '../messaging/RelayClient';

/** What the book needs of the relay (RelayClient). */
export interface PresenceRelay {
  presence(userIds: readonly UserId[]): Promise<Presence[]>;
  setPresence(update: PresenceUpdate): Promise<Presence>;
}

/**
 * What one profile's client knows of presence (issue 19): the last status the relay gave for each colleague
 * asked about, and the user's own. Read from the relay whenever asked (the screens ask on opening a
 * conversation and every minute; the sender asks just before a direct message goes); offline, the last
 * statuses read stand, each ending at its end time. Statuses are organisational data: they stay in memory
 * and are never logged.
 */
/** A status read this recently is what a send decides on, without asking the relay again (a burst of messages to one colleague asks once). */
export const SEND_FRESHNESS_MS = 10_000;

export class PresenceBook {
  readonly #known = new Map<UserId, Presence>();
  /** When each status was last read from the relay (this workstation's clock). */
  readonly #readAt = new Map<UserId, number>();

  constructor(
    private readonly relay: PresenceRelay,
    private readonly self: UserId,
    private readonly scheduler: Pick<Scheduler, 'now'>,
  ) {}

  /** Sets the user's own status on the relay (its refusals come back as RelayRequestError). */
  async setOwn(update: PresenceUpdate): Promise<Presence> {
    const presence = await this.relay.setPresence(update);
    this.#known.set(this.self, presence);
    return presenceAt(presence, this.scheduler.now());
  }

  /** The user's own status as last set or read here (Available until known), as it reads now. */
  own(): Presence {
    return this.#at(this.self);
  }

  /** The user's own status now: what notifications obey (Do not disturb). */
  ownStatus(): PresenceStatus {
    return this.own().status;
  }

  /**
   * The statuses of `userIds` and the user's own, read afresh from the relay (in batches); when it cannot be
   * reached, the last ones read (Available for anyone never read).
   */
  async read(userIds: readonly UserId[]): Promise<Presence[]> {
    const wanted = [...new Set([this.self, ...userIds])];
    try {
      for (let i = 0; i < wanted.length; i += MAX_PRESENCE_QUERY) {
        const at = this.scheduler.now();
        for (const p of await this.relay.presence(wanted.slice(i, i + MAX_PRESENCE_QUERY))) {
          this.#known.set(p.userId, p);
          this.#readAt.set(p.userId, at);
        }
      }
    } catch (error) {
      if (!(error instanceof RelayRequestError)) throw error;
    }
    return wanted.map((id) => this.#at(id));
  }

  /** One colleague's status as last read here (Available if never), as it reads now: no request. */
  known(userId: UserId): Presence {
    return this.#at(userId);
  }

  /** One colleague's status for a send: read afresh unless read in the last SEND_FRESHNESS_MS (the last one read when the relay does not answer). */
  async current(userId: UserId): Promise<Presence> {
    const readAt = this.#readAt.get(userId);
    if (readAt !== undefined && this.scheduler.now() - readAt < SEND_FRESHNESS_MS) return this.#at(userId);
    return (await this.read([userId])).find((p) => p.userId === userId) ?? availablePresence(userId);
  }

  #at(userId: UserId): Presence {
    return presenceAt(this.#known.get(userId) ?? availablePresence(userId), this.scheduler.now());
  }
}
