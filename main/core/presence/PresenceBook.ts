import type { DeviceId, UserId } from '../../../shared/ids';
import { MAX_PRESENCE_AHEAD_MS, MAX_PRESENCE_QUERY, availablePresence, presenceAt, type ForwardingSignature, type ForwardingTerms, type Presence, type PresenceSetRequest, type PresenceStatus, type PresenceUpdate } from '../../../shared/wire/presence';
import type { Scheduler } from '../Clock';
import { RoundsError } from '../errors';
import { RelayRequestError } from '../messaging/RelayClient';

/** What the book needs of the relay (RelayClient). */
export interface PresenceRelay {
  presence(userIds: readonly UserId[]): Promise<Presence[]>;
  setPresence(request: PresenceSetRequest): Promise<Presence>;
}

/**
 * Why a colleague's forward-to is not acted on (audited as forwarding.refused): no statement; signed by a
 * workstation of theirs this one has never met, or whose new key awaits acknowledgement; not their signature
 * over this; signed in the future; or for longer than a status may last.
 */
export type ForwardingRefusal = 'UNSIGNED' | 'UNKNOWN_SIGNER' | 'SIGNER_UNCONFIRMED' | 'SIGNATURE_INVALID' | 'SIGNED_LATER' | 'TOO_LONG';

/** What the book needs of the protocol core and the audit log to sign the user's forward-to and check colleagues'. */
export interface ForwardingSignatures {
  sign(terms: ForwardingTerms, signedAt: number): ForwardingSignature;
  /** Null when the forward-to is the colleague's signed word, else why not. */
  refusal(presence: Presence): ForwardingRefusal | null;
  refused(presence: Presence, reason: ForwardingRefusal): void;
  /**
   * Meets a colleague's workstations this one has no session with yet (their keys from the relay, under the
   * rules every first message follows: trusted on first contact, a new workstation of a known contact held
   * until acknowledged), so that a first message to someone away can be forwarded too. Never throws.
   */
  meet(userId: UserId): Promise<void>;
}

/** What meeting a colleague's workstations needs: the relay's bundles and the core's sessions. */
export interface SessionStarter {
  hasSession(address: { userId: UserId; deviceId: DeviceId }): boolean;
  startSessions(bundles: readonly unknown[]): Promise<void>;
}

/** The core's signatures and the local audit log as the book needs them. */
export function forwardingSignatures(
  core: SessionStarter & { signForwarding(terms: ForwardingTerms, signedAt: number): ForwardingSignature; forwardingRefusal(presence: Presence): ForwardingRefusal | null },
  relay: { bundles(userId: UserId): Promise<readonly { userId: UserId; deviceId: DeviceId }[]> },
  audit: (details: { user: string; to: string; reason: ForwardingRefusal }) => void,
): ForwardingSignatures {
  return {
    sign: (terms, signedAt) => core.signForwarding(terms, signedAt),
    refusal: (presence) => core.forwardingRefusal(presence),
    meet: async (userId) => {
      try {
        const bundles = (await relay.bundles(userId)).filter((b) => !core.hasSession(b));
        if (bundles.length > 0) await core.startSessions(bundles);
      } catch {
        // Offline, or a key held for acknowledgement: the forwarding stays unverified, and the screens say so.
      }
    },
    refused: ({ userId, forwardTo }, reason) => audit({ user: userId, to: forwardTo?.kind === 'role' ? `role:${forwardTo.roleId}` : `user:${forwardTo?.userId ?? ''}`, reason }),
  };
}

/** How far ahead of this workstation's clock a colleague's forwarding may say it was signed (clocks disagree a little). */
const SIGNED_AHEAD_SLACK_MS = 5 * 60_000;
/** A refused forward-to (the same colleague, target and reason) is audited again after this long at most once. */
const REFUSAL_AUDIT_EVERY_MS = 3600_000;
/** A colleague's workstations are looked up for a forwarding at most this often. */
const MEET_EVERY_MS = 10 * 60_000;

/**
 * What one profile's client knows of presence (issue 19): the last status the relay gave for each colleague
 * asked about, and the user's own. Read from the relay whenever asked (the screens ask on opening a
 * conversation and every minute; the sender asks just before a direct message goes); offline, the last
 * statuses read stand, each ending at its end time. Statuses are organisational data: they stay in memory
 * and are never logged.
 */
/** A relay's word that statuses changed is followed by a read within this (spread: not every workstation at once). */
const ANNOUNCED_READ_SPREAD_MS = 1000;

/** A status read this recently is what a send decides on, without asking the relay again (a burst of messages to one colleague asks once). */
export const SEND_FRESHNESS_MS = 10_000;

export class PresenceBook {
  readonly #known = new Map<UserId, Presence>();
  /** When each status was last read from the relay (this workstation's clock). */
  readonly #readAt = new Map<UserId, number>();

  /**
   * The forward-tos refused, by colleague, target and reason, with when each was last audited: once an hour at
   * most (the relay chooses what it answers; varying it must not fill this workstation's audit log).
   */
  readonly #refused = new Map<string, number>();
  /** When each colleague's workstations were last looked up to check a forwarding (a relay naming an unknown one cannot make this ask every minute). */
  readonly #met = new Map<UserId, number>();

  constructor(
    private readonly relay: PresenceRelay,
    private readonly self: UserId,
    private readonly scheduler: Pick<Scheduler, 'now'>,
    private readonly signatures: ForwardingSignatures,
  ) {}

  /** Sets the user's own status on the relay, a forward-to signed by this device (the relay's refusals come back as RelayRequestError). */
  async setOwn(update: PresenceUpdate): Promise<Presence> {
    const forwardTo = update.forwardTo ?? null;
    // Nothing signed that the relay would refuse: a signature for longer than a status may last stays unmade.
    if (forwardTo && update.until != null && update.until > this.scheduler.now() + MAX_PRESENCE_AHEAD_MS) {
      throw new RoundsError('INVALID_INPUT', 'a status with a forward-to may last at most 7 days');
    }
    const forwarding = forwardTo ? this.signatures.sign({ status: update.status, forwardTo, until: update.until ?? null }, this.scheduler.now()) : null;
    const presence = await this.#checked(await this.relay.setPresence({ update, forwarding }));
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
          this.#known.set(p.userId, await this.#checked(p));
          this.#readAt.set(p.userId, at);
        }
      }
    } catch (error) {
      if (!(error instanceof RelayRequestError)) throw error;
    }
    return wanted.map((id) => this.#at(id));
  }

  /**
   * The relay said these users' statuses changed (a `presenceChanged` frame): those this workstation shows (its
   * own user and the colleagues its screens asked about) are read again, checked as any read; answered as they read
   * now. Anyone else is left alone (nothing read): a status changed anywhere in the hospital must not have every
   * workstation ask for it, nor meet that colleague's devices.
   */
  async changed(userIds: readonly UserId[]): Promise<Presence[]> {
    const shown = [...new Set(userIds)].filter((id) => id === this.self || this.#known.has(id));
    if (shown.length === 0) return [];
    const now = await this.read(shown);
    return now.filter((p) => shown.includes(p.userId));
  }

  /**
   * The relay's word that these users' statuses changed: read (changed) after a random wait of up to
   * ANNOUNCED_READ_SPREAD_MS, so the workstations showing one colleague do not all ask at once; each status read
   * goes to `heard`. A read that fails leaves the last one standing (the minute's reading follows).
   */
  announced(userIds: readonly UserId[], after: Scheduler['after'], heard: (presence: Presence) => void): void {
    after(Math.random() * ANNOUNCED_READ_SPREAD_MS, () => void this.changed(userIds).then((now) => now.forEach(heard)).catch(() => undefined));
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
   * A status as the relay gave it, its forward-to kept only when the colleague signed it (ProtocolCore.forwardingRefusal):
   * the relay cannot add a reader to anyone's messages. A refused one reads as the status without forwarding,
   * marked so the screens can say the forwarding could not be verified; audited at most once an hour.
   */
  async #checked(presence: Presence): Promise<Presence> {
    if (!presence.forwardTo) return presence;
    const now = this.scheduler.now();
    const proof = presence.forwarding;
    let reason: ForwardingRefusal | null = !proof ? 'UNSIGNED'
      : proof.signedAt > now + SIGNED_AHEAD_SLACK_MS ? 'SIGNED_LATER'
        : presence.until !== null && presence.until - proof.signedAt > MAX_PRESENCE_AHEAD_MS + SIGNED_AHEAD_SLACK_MS ? 'TOO_LONG'
          : this.signatures.refusal(presence);
    // A colleague not yet written to: meet their workstations first (at most every MEET_EVERY_MS each), then look again.
    if (reason === 'UNKNOWN_SIGNER' && now - (this.#met.get(presence.userId) ?? -Infinity) >= MEET_EVERY_MS) {
      this.#met.set(presence.userId, now);
      await this.signatures.meet(presence.userId);
      reason = this.signatures.refusal(presence);
    }
    if (reason === null) return presence;
    const target = presence.forwardTo.kind === 'user' ? presence.forwardTo.userId : presence.forwardTo.roleId;
    const key = `${presence.userId} ${target} ${reason}`;
    const last = this.#refused.get(key);
    if (last === undefined || now - last >= REFUSAL_AUDIT_EVERY_MS) {
      if (this.#refused.size >= 10_000) this.#refused.clear();
      this.#refused.set(key, now);
      this.signatures.refused(presence, reason);
    }
    return { ...presence, forwardTo: null, forwarding: null, forwardingUnverified: true };
  }

  #at(userId: UserId): Presence {
    return presenceAt(this.#known.get(userId) ?? availablePresence(userId), this.scheduler.now());
  }
}
