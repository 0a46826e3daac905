import { createHash, randomUUID } from 'node:crypto';
import { describeError } from '../../../shared/errors';
import { UserIdSchema, addressKey, sameAddress, type ConversationId, type DeviceAddress, type DistributionId, type MessageId, type UserId } from '../../../shared/ids';
import { PAYLOAD_VERSION, ReceiptPayloadSchema, type Payload } from '../../../shared/payload';
import type { DirectoryEntry, OutgoingEnvelope, SendResponse } from '../../../shared/wire/relay';
import type { OutgoingCiphertext } from '../crypto/DirectCipher';
import { sealEnvelope } from '../crypto/envelopes';
import { IdentityChangedError, RoundsError } from '../errors';
import { logWarning } from '../Logger';
import type { OutboxEntry } from '../storage/OutboxStore';
import { careTeamState } from './CareTeams';
import type { ClientContext } from './ClientContext';
import { RelayRequestError, type RelayConnection } from './RelayClient';
import type { SendDeferrals } from './SendDeferrals';

/**
 * Sending: everything goes through the outbox (in the encrypted database; texts are put there by OutgoingTexts)
 * and leaves it oldest first, encrypted for every device of every recipient and our own other devices, with
 * sessions started from the relay's prekey bundles where there are none yet. Recipients whose relay queue is full, and the
 * whole outbox while over the relay's rate, wait (SendDeferrals) without holding up anyone else.
 */
export class OutboxSender {
  /**
   * The organisation's directory (who has which devices), kept between sends: the relay refuses a send
   * that misses or invents a device (UNKNOWN_DEVICE), and then it is read again. The relay checks only the
   * users a send names, so where the kept copy would decide more than that (#cacheDecides), a flush reads it afresh.
   */
  #directory: DirectoryEntry[] | undefined;
  /** When #directory was read (the scheduler's time). */
  #directoryReadAt = Number.NEGATIVE_INFINITY;
  #sending: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ctx: ClientContext,
    private readonly deferrals: SendDeferrals,
    /** The open connection, if any: sends go over it, else over HTTP. */
    private readonly connection: () => RelayConnection | undefined,
  ) {}

  /** Puts a payload in the outbox for `recipients` (and our own other devices). */
  queue(recipients: readonly UserId[], payload: Payload): void {
    const id = payload.type === 'text' ? payload.messageId : randomUUID();
    this.ctx.outbox.add(id, recipients, payload, this.ctx.scheduler.now());
  }

  /** Queues a receipt (it survives restarts like any message). */
  queueReceipt(to: UserId, conversationId: ConversationId, kind: 'delivered' | 'read', messageIds: readonly MessageId[]): void {
    const now = this.ctx.scheduler.now();
    const payload = ReceiptPayloadSchema.parse({ v: PAYLOAD_VERSION, type: 'receipt', receipt: kind, conversationId, messageIds, sentAt: now });
    this.ctx.outbox.add(randomUUID(), [to], payload, now);
  }

  /** Sends what the outbox holds, oldest first; stops at the first message that cannot go yet. */
  flush(): Promise<void> {
    const run = this.#sending.then(() => this.#flush());
    this.#sending = run.catch(() => undefined);
    return run;
  }

  /** Starts a flush in the background; a failure stays in the outbox for the next one (logged by code only). */
  kick(): void {
    if (!this.ctx.running()) return;
    this.flush().catch((error: unknown) => {
      if (!(error instanceof RoundsError && error.code === 'PROFILE_LOCKED')) this.ctx.logger.error(`outbox flush failed: ${describeError(error)}`);
    });
  }

  /** Waits for the flush under way, and any chained while waiting. */
  async settled(): Promise<void> {
    for (let sending; sending !== this.#sending; ) await (sending = this.#sending).catch(() => undefined);
  }

  /** The directory, read from the relay (and kept for the next sends, and as the contacts). */
  async readDirectory(): Promise<DirectoryEntry[]> {
    const users = (await this.ctx.relay.directory()).users;
    this.#directoryReadAt = this.ctx.scheduler.now();
    this.ctx.conversations.saveContacts(users, this.#directoryReadAt);
    this.#directory = users;
    return users;
  }

  async #flush(): Promise<void> {
    const progress: FlushProgress = { after: 0, refreshed: false, directoryRead: false };
    // After stop() (lock, quit) nothing more goes out: the rest waits in the outbox for the next start.
    while (this.ctx.running()) {
      const now = this.ctx.scheduler.now();
      // Over the relay's rate: nothing goes before the time it gave (a timer flushes again then).
      if (this.deferrals.paused(now)) return;
      const entry = this.ctx.outbox.next(progress.after);
      if (!entry) return;
      if (!(await this.#sendOne(entry, now, progress))) return;
    }
  }

  /**
   * Sends one outbox entry, or leaves it for later (`progress.after` moves past it when the entries after
   * it may go first); false when nothing more can go in this flush.
   */
  async #sendOne(entry: OutboxEntry, now: number, progress: FlushProgress): Promise<boolean> {
    const { ctx, deferrals } = this;
    const { payload, seq } = entry;
    const team = payload.type === 'text' ? ctx.conversations.careTeam(payload.conversationId) : undefined;
    if (team && !team.isMember && payload.type === 'text') {
      // Removed before it went: it can never be sent.
      ctx.db.transaction(() => {
        ctx.outbox.remove(seq);
        ctx.messages.markSendFailed(payload.messageId, 'NOT_A_MEMBER');
      });
      ctx.emit({ type: 'sendFailed', messageId: payload.messageId, reason: 'NOT_A_MEMBER' });
      return true;
    }
    // A team text goes to those who were members when it was written and still are (not to someone
    // added since, who must not read what was said before they joined, nor to someone removed).
    const recipients = team ? entry.recipients.filter((u) => team.members.includes(u)) : entry.recipients;
    // Someone whose queue on the relay is full waits (and so does everything after for them: their
    // messages stay in order); everyone else gets the message now.
    const self = ctx.self.userId;
    const held = recipients.filter((u) => deferrals.holds(u, now));
    const selfHeld = deferrals.holds(self, now);
    const sendTo = recipients.filter((u) => !held.includes(u));
    if (sendTo.length === 0 && (held.length > 0 || selfHeld)) {
      if (payload.type === 'text') deferrals.announce(payload.messageId, held[0] ?? self, now);
      progress.after = seq;
      return true;
    }
    // A team text's attempt once counted, with the devices its encryption recorded as given our sender key;
    // `sending`: the envelopes went to the relay, which may have taken them even if no answer came back.
    let attempt: { shared?: KeyShared } | undefined;
    let sending = false;
    try {
      if (team && entry.attempts > 0) {
        // An earlier attempt may have recorded our sender key as shared with devices that never got
        // it (the app stopped, or no answer came, in between): start a new key, shared afresh.
        await ctx.core.rotateCareTeamKey(team.id);
      }
      if (team) {
        ctx.outbox.countAttempt(seq);
        attempt = {};
      }
      // Who may read a team text: those it was for when written who are still members (some got it already, some
      // wait for room in their queue), and our own devices.
      const written = team && payload.type === 'text' ? ctx.messages.byId(payload.messageId)?.recipients ?? entry.recipients : [];
      const readers = team ? team.members.filter((u) => written.includes(u)) : [];
      let directory = this.#directory ?? await this.#readDirectoryIn(progress);
      if (team && !progress.directoryRead && await this.#cacheDecides(team.id, directory, { sendTo, readers, selfHeld })) directory = await this.#readDirectoryIn(progress);
      const hasDevices = (userId: UserId) => directory.some((u) => u.userId === userId && u.devices.length > 0);
      // A colleague still to enroll has no workstation: a message to them waits (tried again after a
      // wait, with the directory read afresh) rather than counting as sent. A care team's message goes
      // to the members who have one; one who enrolls later reads from then on, as a new workstation does.
      const unenrolled = team ? [] : sendTo.filter((u) => !hasDevices(u));
      for (const userId of unenrolled) deferrals.defer(userId, now, 'RECIPIENT_NOT_ENROLLED');
      if (unenrolled.length > 0) this.#directory = undefined;
      const goTo = sendTo.filter((u) => !unenrolled.includes(u));
      const devices = directory
        .filter((u) => goTo.includes(u.userId) || (u.userId === self && !selfHeld))
        .flatMap((u) => u.devices.map((deviceId): DeviceAddress => ({ userId: u.userId, deviceId })))
        .filter((d) => !sameAddress(d, ctx.self));
      await this.#ensureSessions(devices);
      let ciphertexts: readonly OutgoingCiphertext[];
      if (team && payload.type === 'text') {
        // Only a holder of our key outside the readers' devices (the directory's, read afresh when it decides) starts a new key.
        const readerDevices = directory.filter((u) => readers.includes(u.userId) || u.userId === self)
          .flatMap((u) => u.devices.map((deviceId): DeviceAddress => ({ userId: u.userId, deviceId })));
        const send = await ctx.core.encryptCareTeam(team.id, devices, payload, readerDevices);
        // Devices getting our key for the first time (a new member, or a member's new workstation) get
        // the team itself first, so they know whose key it is; devices that know it already ignore it.
        const newcomers = send.senderKeyShares.map((share) => share.recipient);
        if (attempt && send.distributionId) attempt.shared = { distributionId: send.distributionId, devices: newcomers };
        const state = newcomers.length > 0 ? await ctx.core.encryptDirect(newcomers, careTeamState(team, ctx.scheduler.now())) : [];
        ciphertexts = [...state, ...send.senderKeyShares, ...send.messages];
      } else {
        ciphertexts = await ctx.core.encryptDirect(devices, payload);
      }
      // An urgent message's envelopes say so to the relay (issue 19: it counts urgent use); the reason stays inside.
      // A rung's copy or the copy for whoever covers is the same message again: counted once, as the original.
      const urgent = payload.type === 'text' && payload.urgent === true && payload.escalation === undefined && payload.forwardedFor === undefined;
      const envelopes = ciphertexts.map((o) => {
        const { sender: _sender, ...outgoing } = sealEnvelope(ctx.self, o);
        return urgent ? { ...outgoing, urgent: true as const } : outgoing;
      });
      sending = true;
      // The relay holds the send to every other workstation of ours (it names one we do not know of yet: the
      // directory is read again), except while their queue is full and they get it later. With no envelope (no
      // one else to send to, as in a care team we alone are left in, and no other workstation of ours known) it
      // is still asked, by a send of none: a workstation of ours the directory does not list yet needs the copy.
      const posted = envelopes.length > 0 || !selfHeld ? await this.#post(envelopes, !selfHeld) : undefined;
      const result = posted === OLDER_RELAY ? undefined : posted;
      // Each envelope's outcome: a full queue and a taken id wait for a later flush (a new envelope id
      // then); a device revoked meanwhile needs nothing more; the rest are queued.
      const refused = new Map((result?.refused ?? []).map((r) => [r.id, r]));
      const full = new Set<UserId>();
      const shareFull = new Set<UserId>();
      const again = new Set<UserId>();
      for (const e of envelopes) {
        const refusal = refused.get(e.id);
        const code = refusal?.code;
        if (code === 'RECIPIENT_QUEUE_FULL') full.add(e.recipient.userId);
        if (code === 'RECIPIENT_QUEUE_FULL' && refusal?.share === 'sender') shareFull.add(e.recipient.userId);
        else if (code === 'DUPLICATE_ENVELOPE') again.add(e.recipient.userId);
        else if (code === 'UNKNOWN_DEVICE') this.#directory = undefined;
      }
      for (const userId of full) deferrals.defer(userId, now, shareFull.has(userId) ? 'SENDER_SHARE_FULL' : 'RECIPIENT_QUEUE_FULL');
      for (const userId of selfHeld ? goTo : [...goTo, self]) if (!full.has(userId)) deferrals.clear(userId);
      const waiting = [...new Set([...held, ...full, ...again, ...unenrolled])].filter((u) => u !== self);
      const ownWaiting = selfHeld || full.has(self) || again.has(self);
      if (posted === OLDER_RELAY && waiting.length === 0 && !ownWaiting) {
        // A relay from before sends of no envelope could not say whether a workstation of ours is missing: the
        // directory, read afresh (once per flush), may list one, and then the message goes to it. Else it had nobody
        // else to go to, and counts as sent to no one (else it would be asked again forever, holding up everything
        // after it). The warning carries no id, text or name (habit 8): what IT needs is that the relay is older.
        if (!progress.directoryRead) {
          if (team && attempt) await this.#notShared(seq, team.id, attempt.shared);
          this.#directory = undefined;
          return true;
        }
        logWarning(ctx.logger, 'the relay refused a send of no envelope (BAD_REQUEST) as relays from before them did: it is older than this workstation and is to be upgraded; a message with nobody else to go to counted as sent, unchecked for workstations of this account the directory does not list');
      }
      const reached = goTo.filter((u) => !full.has(u) && !again.has(u) && hasDevices(u));
      const delivered = envelopes.filter((e) => !refused.has(e.id));
      ctx.db.transaction(() => {
        if (waiting.length === 0 && !ownWaiting) ctx.outbox.remove(seq);
        else ctx.outbox.waitFor(seq, waiting);
        // Audited as sent once something went (or there was nobody else to send it to): never "sent" to no one.
        if (payload.type === 'text' && (delivered.length > 0 || (envelopes.length === 0 && waiting.length === 0 && !ownWaiting))) {
          ctx.audit('message.sent', { conversation: payload.conversationId, message: payload.messageId, sender: addressKey(ctx.self), recipients: reached.join(' '), ciphertextSha256: digestOf(delivered.map((e) => e.content)) });
        }
      });
      // A team text's attempt the relay answered is no longer in doubt: it stored what it took, and refused the rest. A
      // device refused for a full queue got none of this send (a device's envelopes are queued or refused together), so
      // it is no longer recorded as holding our key and gets it with the message when there is room, and the next
      // attempt keeps the key: one colleague's full queue is no change of who is in the team. Any other refusal leaves
      // the attempt counted (the next one starts a new key), as the allow-list of RelayRequestError.nothingStored does.
      if (team && attempt && (waiting.length > 0 || ownWaiting) && [...refused.values()].every((r) => r.code === 'RECIPIENT_QUEUE_FULL')) {
        const missed = new Set(envelopes.filter((e) => refused.has(e.id)).map((e) => addressKey(e.recipient)));
        await this.#notShared(seq, team.id, attempt.shared && { ...attempt.shared, devices: attempt.shared.devices.filter((d) => missed.has(addressKey(d))) });
      }
      const first = [...full, ...unenrolled][0];
      if (first !== undefined && payload.type === 'text') deferrals.announce(payload.messageId, first, now);
      if (waiting.length > 0 || ownWaiting) progress.after = seq;
      else if (payload.type === 'text') deferrals.settled(payload.messageId);
      progress.refreshed = false;
      return true;
    } catch (error) {
      // The relay took none of it (it never went, or the relay refused it whole before storing any, UNKNOWN_DEVICE
      // say): the next attempt keeps our sender key, and gives it only to the devices that do not have it. Any other
      // failure may have come after the relay stored it: the key counts as shared, and the next attempt rotates it.
      if (team && attempt && (!sending || (error instanceof RelayRequestError && error.nothingStored))) await this.#notShared(seq, team.id, attempt.shared);
      if (error instanceof RelayRequestError && error.code === 'UNKNOWN_DEVICE' && !progress.refreshed) {
        // Someone's devices changed since the directory was read: read it again and retry at once.
        this.#directory = undefined;
        progress.refreshed = true;
        return true;
      }
      if (error instanceof RelayRequestError && (error.code === 'SEND_RATE_LIMITED' || error.code === 'KEY_FETCH_RATE_LIMITED' || error.code === 'RELAY_STORAGE_FULL' || error.code === 'RELAY_UNAVAILABLE')) {
        // This workstation is over the relay's rate, or the relay is short of disk or cannot reach its
        // database: everything waits as long as the relay said, then goes by itself.
        deferrals.pause(now, error.details.retryAfterMs, error.code === 'RELAY_STORAGE_FULL' || error.code === 'RELAY_UNAVAILABLE' ? error.code : 'RATE_LIMITED');
        if (payload.type === 'text') deferrals.announce(payload.messageId, undefined, now);
        return false;
      }
      if (error instanceof RelayRequestError && error.code === 'RECIPIENT_QUEUE_FULL') {
        // Every device addressed has a full queue: they wait, later messages for others go on.
        const named = (error.details.devices ?? []).map((d) => UserIdSchema.parse(d.userId));
        // (A relay that names no device: everyone this send was for.)
        const full = named.length > 0 ? named : sendTo.length > 0 ? sendTo : [self];
        for (const userId of new Set(full)) deferrals.defer(userId, now, error.details.share === 'sender' ? 'SENDER_SHARE_FULL' : 'RECIPIENT_QUEUE_FULL');
        if (payload.type === 'text') deferrals.announce(payload.messageId, full[0], now);
        progress.after = seq;
        return true;
      }
      if (!team) ctx.outbox.countAttempt(seq);
      if (error instanceof IdentityChangedError && payload.type === 'text') {
        ctx.emit({ type: 'sendBlocked', messageId: payload.messageId, reason: 'IDENTITY_CHANGED', userId: error.userId });
      }
      // Kept in order: later messages wait for this one, until the next flush (reconnect or send).
      return false;
    }
  }

  /**
   * Encrypts a payload 1:1 for every device of these users (not this device), outside the outbox: an escalation
   * ladder's rungs, which the relay holds and releases by time (issue 19). Sessions are started as needed.
   */
  async encryptFor(users: readonly UserId[], payload: Payload): Promise<OutgoingEnvelope[]> {
    const directory = this.#directory ?? await this.readDirectory();
    const devices = directory.filter((u) => users.includes(u.userId))
      .flatMap((u) => u.devices.map((deviceId): DeviceAddress => ({ userId: u.userId, deviceId })))
      .filter((d) => !sameAddress(d, this.ctx.self));
    await this.#ensureSessions(devices);
    return (await this.ctx.core.encryptDirect(devices, payload)).map((o) => {
      const { sender: _sender, ...outgoing } = sealEnvelope(this.ctx.self, o);
      return outgoing;
    });
  }

  /**
   * One send, over the open connection if there is one, else over HTTP. A relay from before sends of no envelope (its
   * schema wanted at least one) refuses the check of our own workstations with BAD_REQUEST and the message its schema
   * wrote: OLDER_RELAY then (#sendOne decides what that means for the message). Any other refusal is thrown as it
   * is, a BAD_REQUEST of a send of no envelope with another message too: ours would be wrong, and must not be hidden.
   */
  async #post(envelopes: readonly OutgoingEnvelope[], allOwnDevices: boolean): Promise<SendResponse | typeof OLDER_RELAY> {
    const connection = this.connection();
    try {
      return await (connection?.open ? connection.send(envelopes, allOwnDevices) : this.ctx.relay.send(envelopes, allOwnDevices));
    } catch (error) {
      if (envelopes.length === 0 && error instanceof RelayRequestError && error.code === 'BAD_REQUEST' && OLDER_RELAY_REFUSALS.has(error.message)) return OLDER_RELAY;
      throw error;
    }
  }

  /** The directory read from the relay within a flush: what it says of devices is current for the rest of that flush. */
  #readDirectoryIn(progress: FlushProgress): Promise<DirectoryEntry[]> {
    progress.directoryRead = true;
    return this.readDirectory();
  }

  /**
   * Whether the kept directory would decide a team send on old news (it is read again then, once per flush):
   * - a holder of our team key this send does not address (a reader whose queue is full, one who got the message
   *   already, a workstation of ours while our own queue is full) keeps the key only while its device is a reader's
   *   device: the relay checks the devices of those a send names, not of the others, so a workstation revoked, or
   *   an account deactivated, since the directory was read would read what is written after (security);
   * - a member it lists with no workstation gets nothing, while her first one may have enrolled since (the relay,
   *   again, checks only those a send names, so no UNKNOWN_DEVICE would tell). Read again at most once every
   *   MEMBERLESS_REREAD_MS: the read is the whole directory, and a team with someone who never enrolls would
   *   otherwise read it for every message.
   */
  async #cacheDecides(teamId: ConversationId, directory: readonly DirectoryEntry[], send: { sendTo: readonly UserId[]; readers: readonly UserId[]; selfHeld: boolean }): Promise<boolean> {
    const self = this.ctx.self.userId;
    const memberless = send.sendTo.some((u) => u !== self && !directory.some((e) => e.userId === u && e.devices.length > 0));
    if (memberless && this.ctx.scheduler.now() - this.#directoryReadAt >= MEMBERLESS_REREAD_MS) return true;
    const addressed = (u: UserId) => (u === self ? !send.selfHeld : send.sendTo.includes(u));
    // The usual send addresses every reader and our own devices: no holder can be left out, nothing to read.
    if (addressed(self) && send.readers.every(addressed)) return false;
    const holders = await this.ctx.core.careTeamKeyHolders(teamId);
    return holders.some((h) => (h.userId === self || send.readers.includes(h.userId)) && !addressed(h.userId));
  }

  /** A team text's attempt the relay took none of: the devices it shared our sender key with did not get it, and the attempt does not count. */
  async #notShared(seq: number, teamId: ConversationId, shared: KeyShared | undefined): Promise<void> {
    try {
      if (shared && shared.devices.length > 0) await this.ctx.core.careTeamKeyNotShared(teamId, shared.distributionId, shared.devices);
      this.ctx.outbox.resetAttempts(seq);
    } catch (error) {
      // Still counted: the next attempt starts a new key.
      this.ctx.logger.error(`a refused care-team send could not be set right: ${describeError(error)}`);
    }
  }

  async #ensureSessions(devices: readonly DeviceAddress[]): Promise<void> {
    const missing = devices.filter((d) => !this.ctx.core.hasSession(d));
    if (missing.length === 0) return;
    const bundles = (await Promise.all([...new Set(missing.map((d) => d.userId))].map((userId) => this.ctx.relay.bundles(userId)))).flat();
    await this.ctx.core.startSessions(bundles.filter((b) => missing.some((m) => m.userId === b.userId && m.deviceId === b.deviceId)));
  }
}

/** The devices one attempt recorded as given our sender key for a team (`distributionId`). */
interface KeyShared {
  readonly distributionId: DistributionId;
  readonly devices: readonly DeviceAddress[];
}

/**
 * How far one flush got: entries up to `after` wait for someone; `refreshed`: the directory was just read again after
 * an UNKNOWN_DEVICE; `directoryRead`: it was read from the relay during this flush.
 */
interface FlushProgress {
  after: number;
  refreshed: boolean;
  directoryRead: boolean;
}

/** What #post answers when a relay from before sends of no envelope refused one. */
const OLDER_RELAY = Symbol('older relay');

/**
 * The exact refusals of a send of no envelope by a relay from before them (commit b066237), over HTTP and over the
 * socket: its schema's messages. Matched whole, so that no other BAD_REQUEST passes for one.
 */
const OLDER_RELAY_REFUSALS: ReadonlySet<string> = new Set(['invalid request: envelopes Too small: expected array to have >=1 items', 'invalid frame: envelopes']);

/** SHA-256 (hex) of the ciphertexts of one message (base64 as sent), for the audit log: never the text. */
export function digestOf(contents: readonly string[]): string {
  const hash = createHash('sha256');
  for (const c of contents) hash.update(Buffer.from(c, 'base64'));
  return hash.digest('hex');
}

/** How often a care-team send re-reads the directory for members listed without a workstation (their first one may have enrolled). */
const MEMBERLESS_REREAD_MS = 60_000;
