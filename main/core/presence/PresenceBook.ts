import type { UserId } from '../../../shared/ids';
import { MAX_PRESENCE_QUERY, availablePresence, presenceAt, type ForwardingSignature, type ForwardingTerms, type Presence, type PresenceSetRequest, type PresenceStatus, type PresenceUpdate } from '../../../shared/wire/presence';
import type { Scheduler } from '../Clock';
import { RelayRequestError } from '../messaging/RelayClient';

/** What the book needs of the relay (RelayClient). */
export interface PresenceRelay {
  presence(userIds: readonly UserId[]): Promise<Presence[]>;
  setPresence(request: PresenceSetRequest): Promise<Presence>;
}

/** Why a colleague's forward-to is not acted on (audited as forwarding.refused). */
export type ForwardingRefusal = 'UNSIGNED' | 'SIGNATURE_INVALID' | 'SIGNED_LATER';

/** What the book needs of the protocol core and the audit log to sign the user's forward-to and check colleagues'. */
export interface ForwardingSignatures {
  sign(terms: ForwardingTerms, signedAt: number): ForwardingSignature;
  trusted(presence: Presence): boolean;
  refused(presence: Presence, reason: ForwardingRefusal): void;
}

/** The core's signatures and the local audit log as the book needs them. */
export function forwardingSignatures(
  core: { signForwarding(terms: ForwardingTerms, signedAt: number): ForwardingSignature; forwardingTrusted(presence: Presence): boolean },
  audit: (details: { user: string; to: string; reason: ForwardingRefusal }) => void,
): ForwardingSignatures {
  return {
    sign: (terms, signedAt) => core.signForwarding(terms, signedAt),
    trusted: (presence) => core.forwardingTrusted(presence),
    refused: ({ userId, forwardTo }, reason) => audit({ user: userId, to: forwardTo?.kind === 'role' ? `role:${forwardTo.roleId}` : `user:${forwardTo?.userId ?? ''}`, reason }),
  };
}

/** How far ahead of this workstation's clock a colleague's forwarding may say it was signed (clocks disagree a little). */
const SIGNED_AHEAD_SLACK_MS = 5 * 60_000;

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

  /** The forward-tos already refused, by user and the time it was set: each is audited once. */
  readonly #refused = new Set<string>();

  constructor(
    private readonly relay: PresenceRelay,
    private readonly self: UserId,
    private readonly scheduler: Pick<Scheduler, 'now'>,
    private readonly signatures: ForwardingSignatures,
  ) {}

  /** Sets the user's own status on the relay, a forward-to signed by this device (the relay's refusals come back as RelayRequestError). */
  async setOwn(update: PresenceUpdate): Promise<Presence> {
    const forwardTo = update.forwardTo ?? null;
    const forwarding = forwardTo ? this.signatures.sign({ status: update.status, forwardTo, until: update.until ?? null }, this.scheduler.now()) : null;
    const presence = this.#checked(await this.relay.setPresence({ update, forwarding }));
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
          this.#known.set(p.userId, this.#checked(p));
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

  /**
   * A status as the relay gave it, its forward-to kept only when the colleague signed it (ProtocolCore.forwardingTrusted):
   * a relay cannot add a reader to anyone's messages. A refused one reads as the status without forwarding, audited once.
   */
  #checked(presence: Presence): Presence {
    if (!presence.forwardTo) return presence;
    const reason: ForwardingRefusal | null = !presence.forwarding ? 'UNSIGNED'
      : !this.signatures.trusted(presence) ? 'SIGNATURE_INVALID'
        : presence.forwarding.signedAt > this.scheduler.now() + SIGNED_AHEAD_SLACK_MS ? 'SIGNED_LATER' : null;
    if (reason === null) return presence;
    const key = `${presence.userId} ${presence.since ?? ''} ${presence.forwarding?.signature ?? ''}`;
    if (!this.#refused.has(key)) {
      if (this.#refused.size >= 10_000) this.#refused.clear();
      this.#refused.add(key);
      this.signatures.refused(presence, reason);
    }
    return { ...presence, forwardTo: null, forwarding: null };
  }

  #at(userId: UserId): Presence {
    return presenceAt(this.#known.get(userId) ?? availablePresence(userId), this.scheduler.now());
  }
}
