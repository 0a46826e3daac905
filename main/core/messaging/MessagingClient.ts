import { describeError } from '../../../shared/errors';
import { DEFAULT_URGENT_REASONS } from '../../../shared/policy';
import { roleResolverOf, UrgentMessages, type UrgentChoice } from './UrgentMessages';
import type { DirectoryEntry, OwnDevice } from '../../../shared/wire/relay';
import { type ConversationId, type DeviceAddress, type MessageId, type UserId } from '../../../shared/ids';
import { appendLocalAudit, type LocalAuditDetails, type LocalAuditKind } from '../audit/LocalAudit';
import { realScheduler, type Scheduler } from '../Clock';
import { ProtocolCore, type ContactIdentityState } from '../crypto/ProtocolCore';
import { RoundsError } from '../errors';
import { consoleLogger, type Logger } from '../Logger';
import { AccountSecrets } from '../storage/AccountSecrets';
import { ConversationStore } from '../storage/ConversationStore';
import type { ContactView } from '../../../shared/contract';
import { contactView, searchDirectory } from './DirectorySearch';
import type { UnlockedProfile } from '../storage/LocalProfiles';
import { MessageStore } from '../storage/MessageStore';
import { OutboxStore } from '../storage/OutboxStore';
import { CareTeams } from './CareTeams';
import { ClientQueries } from './ClientQueries';
import type { ClientContext, ClientEvent, MessagingClientOptions } from './ClientContext';
import { directConversationId } from './directConversation';
import { beginEnrollment, loginNewDevice, openEnrolled, signInAgain, ssoNewDevice, type RegisteredDevice, type SsoRedirectResponse } from './Enrollment';
import { OutboxSender } from './OutboxSender';
import { OutgoingTexts, type SendOptions } from './OutgoingTexts';
import { PeriodicDuties } from './PeriodicDuties';
import { ReceivePipeline } from './ReceivePipeline';
import { RelayRequestError, type RelayClient, type RelayConnection } from './RelayClient';
import { DEFAULT_BACKOFF, RelayLink } from './RelayLink';
import { RoleDirectory } from './RoleDirectory';
import { RoleConversations } from './RoleConversations';
import type { RelayTrust } from './RelayTrust';
import { DEFAULT_DEFERRAL, SendDeferrals } from './SendDeferrals';
import type { StagingId } from '../../../shared/attachmentContract';
import type { Attachments } from '../attachments/Attachments';
import { PresenceBook, forwardingSignatures } from '../presence/PresenceBook';
import { HeldSendStore } from '../storage/HeldSendStore';
import { coverageOfSend } from '../presence/forwarding';
import { clientAttachments, type AttachedChoice, type AttachedSends } from './AttachedSends';

export type { ClientEvent, MessagingClientOptions } from './ClientContext';

/*
 * The messaging client of one local profile, as one facade over its parts: the relay link (reconnects with
 * back-off), receiving (ReceivePipeline: stored with the ratchet step, then acknowledged), sending (OutgoingTexts
 * into OutboxSender: an outbox in the encrypted database that survives restarts), care teams, and the read-only
 * queries the screens use. Message text never leaves the core except encrypted, and never reaches a log.
 */
export class MessagingClient {
  readonly messages: MessageStore;
  readonly conversations: ConversationStore;
  /** What the screens read (views, notifications). */
  readonly queries: ClientQueries;
  /** Photos and documents (issue 20): staging, uploads, downloads, opening. */
  readonly attachments: Attachments;
  /** On-call roles: search, and who holds one (or its backup) now, from the relay (RoleDirectory.ts, issue 19). */
  readonly roles: RoleDirectory;
  /** Conversations with on-call roles: open one, and where role messages are filed (RoleConversations.ts). */
  readonly roleConversations: RoleConversations;
  /** Colleagues' and this user's own presence (issue 19). */
  readonly presence: PresenceBook;
  /** Urgent messages: reasons, acknowledgements and escalation ladders (UrgentMessages.ts, issue 19). */
  readonly urgent: UrgentMessages;
  readonly #core: ProtocolCore;
  readonly #profile: UnlockedProfile;
  readonly #relay: RelayClient;
  readonly #options: MessagingClientOptions;
  readonly #scheduler: Scheduler;
  readonly #logger: Logger;
  readonly #link: RelayLink<RelayConnection>;
  readonly #sender: OutboxSender;
  readonly #texts: OutgoingTexts;
  readonly #receiver: ReceivePipeline;
  readonly #careTeams: CareTeams;
  /** Messages with attachments: held with how they are to go until their uploads end (AttachedSends.ts). */
  readonly #attachedSends: AttachedSends;
  /** Whether someone covers for a 1:1 recipient now (their status read now), and who (presence/forwarding.ts). */
  readonly #coverage: (peer: UserId) => ReturnType<typeof coverageOfSend>;
  #running = false;
  readonly #duties: PeriodicDuties;
  /** Full queues and rate limits on the relay: who and what the outbox waits for, and until when. */
  readonly #deferrals: SendDeferrals;

  private constructor(profile: UnlockedProfile, { core, relay }: RegisteredDevice, options: MessagingClientOptions) {
    this.#profile = profile;
    this.#core = core;
    this.#relay = relay;
    this.#options = options;
    this.#scheduler = options.scheduler ?? realScheduler;
    this.#logger = options.logger ?? consoleLogger;
    const db = profile.database;
    this.messages = new MessageStore(db);
    this.conversations = new ConversationStore(db);
    const outbox = new OutboxStore(db);
    this.queries = new ClientQueries(core.address.userId, this.messages, this.conversations, outbox, new HeldSendStore(db));
    this.roles = new RoleDirectory(relay);
    this.presence = new PresenceBook(relay, core.address.userId, this.#scheduler, forwardingSignatures(core, relay, (details) => this.#audit('forwarding.refused', details)));
    const ctx: ClientContext = {
      self: core.address, db, core, relay, messages: this.messages, conversations: this.conversations, outbox,
      scheduler: this.#scheduler, logger: this.#logger,
      running: () => this.#running,
      audit: (type, details) => this.#audit(type, details),
      emit: (event) => this.#emit(event),
      kick: () => this.#sender.kick(),
    };
    this.#deferrals = new SendDeferrals(this.#scheduler, options.deferral ?? DEFAULT_DEFERRAL, () => this.#sender.kick(), (event) => this.#emit(event));
    this.#duties = new PeriodicDuties(ctx, options);
    this.#link = new RelayLink({
      scheduler: this.#scheduler,
      backoff: options.backoff,
      connect: (onClose) => relay.connect({
        onEnvelope: (envelope) => this.#receiver.enqueue(envelope),
        onKeysLow: (count) => void core.keys.replenish(count).then((upload) => upload && relay.uploadKeys(upload)).catch(() => undefined),
        onPresenceChanged: (userIds) => this.presence.announced(userIds, (ms, fn) => this.#scheduler.after(ms, fn), (presence) => this.#emit({ type: 'presence', presence })),
        onClose,
      }),
      onState: (state) => this.#emit({ type: 'connection', state }),
      onOpen: async () => {
        if (core.keys.rotationDue()) await relay.uploadKeys(await core.keys.rotateSignedPreKeys());
        this.#sender.kick();
        // Acknowledgements not yet reported to the relay, escalation ladders not yet handed over (issue 19).
        void this.urgent.connected().catch(() => undefined);
        // Messages whose attachments went up before a restart (or while the relay could not say who holds a role).
        void this.#attachedSends.releaseReady().catch(() => undefined);
        // This user's own status, perhaps set at another workstation: Do not disturb applies here too.
        void this.presence.read([]).catch(() => undefined);
      },
    });
    this.#sender = new OutboxSender(ctx, this.#deferrals, () => this.#link.connection);
    this.#texts = new OutgoingTexts(ctx, (recipients, payload) => this.#sender.queue(recipients, payload));
    this.#receiver = new ReceivePipeline(ctx, {
      ack: (envelope) => this.#link.connection?.ack([envelope.id]),
      queueReceipt: (...receipt) => this.#sender.queueReceipt(...receipt),
      unreadable: this.#duties.unreadable,
      urgent: () => this.#duties.urgent,
      attachments: () => this.attachments,
      urgency: { storedIn: (p) => this.urgent.storedIn(p), acknowledgementIn: (p, from) => this.urgent.acknowledgementIn(p, from), acknowledged: (p) => this.urgent.acknowledged(p), coverageKnown: (id) => this.urgent.coverageKnown(id) },
      roles: { file: (...filed) => this.roleConversations.file(...filed) },
      retry: options.backoff ?? DEFAULT_BACKOFF,
    });
    this.roleConversations = new RoleConversations(ctx, this.roles, (id, text, options) => this.#texts.sendText(id, text, options));
    this.#careTeams = new CareTeams(ctx, (recipients, payload) => this.#sender.queue(recipients, payload));
    this.urgent = new UrgentMessages(ctx, this.#sender, (id) => this.queries.pending([id]).size > 0, () => this.#duties.urgent, options.urgentReasons ?? DEFAULT_URGENT_REASONS, options.escalationMinutes, roleResolverOf(this.roles, this.roleConversations));
    const coverage = (peer: UserId) => coverageOfSend(peer, { presence: this.presence, roles: this.roles, self: this.address.userId, online: this.online, now: this.#scheduler.now(), logger: this.#logger });
    ({ attachments: this.attachments, sends: this.#attachedSends } = clientAttachments(ctx, relay, { texts: this.#texts, urgent: this.urgent, roles: this.roleConversations, coverage },
      (sentAt) => (options.retentionDays ? sentAt + options.retentionDays * 24 * 3600_000 : undefined), options.attachments));
    this.#coverage = coverage;
  }

  /**
   * First device of an account: enrollment code, password (policy feedback comes back as
   * PASSWORD_POLICY with plain-language issues), and TOTP enrolment: `authenticator` is shown the
   * otpauth URI and secret and returns the code the user read off their app.
   */
  static async enroll(
    profile: UnlockedProfile,
    relayUrl: string,
    details: { username: string; enrollmentCode: string; password: string; deviceName: string; authenticator: (totp: { uri: string; secret: string }) => Promise<string> },
    options: MessagingClientOptions = {},
  ): Promise<MessagingClient> {
    const enrollment = await MessagingClient.beginEnrollment(relayUrl, details.username, details.enrollmentCode, options.relayTrust);
    const code = await details.authenticator({ uri: enrollment.totpUri, secret: enrollment.totpSecret });
    return enrollment.complete(profile, { password: details.password, totpCode: code, deviceName: details.deviceName }, options);
  }

  /** Enrollment in two steps, for a UI (see `beginEnrollment` in Enrollment.ts). */
  static async beginEnrollment(relayUrl: string, username: string, enrollmentCode: string, trust?: RelayTrust): Promise<Enrollment> {
    const begun = await beginEnrollment(relayUrl, username, enrollmentCode, trust);
    return {
      totpUri: begun.totpUri,
      totpSecret: begun.totpSecret,
      complete: async (profile, details, options = {}) => new MessagingClient(profile, await begun.register(profile, details, options), options),
    };
  }

  /** Another device of an existing account (a second workstation): password and TOTP, new keys. */
  static async login(profile: UnlockedProfile, relayUrl: string, details: { username: string; password: string; totpCode: string; deviceName: string }, options: MessagingClientOptions = {}): Promise<MessagingClient> {
    return new MessagingClient(profile, await loginNewDevice(profile, relayUrl, details, options), options);
  }

  /** A new workstation signed in through the hospital's identity provider (see `ssoNewDevice`); with the account's username. */
  static async ssoLogin(profile: UnlockedProfile, relayUrl: string, response: SsoRedirectResponse, deviceName: string, options: MessagingClientOptions = {}): Promise<{ client: MessagingClient; username: string | undefined }> {
    const registered = await ssoNewDevice(profile, relayUrl, response, deviceName, options);
    return { client: new MessagingClient(profile, registered, options), username: registered.username };
  }

  /** Re-opens an enrolled profile (after unlock or a restart). */
  static open(profile: UnlockedProfile, relayUrl: string, options: MessagingClientOptions = {}): MessagingClient {
    return new MessagingClient(profile, openEnrolled(profile, relayUrl, options), options);
  }

  /** Signs this device in again after the policy's sign-out period (see `signInAgain`), and opens it. */
  static async signIn(profile: UnlockedProfile, relayUrl: string, details: { username: string; password: string; totpCode: string }, options: MessagingClientOptions = {}): Promise<MessagingClient> {
    await signInAgain(profile, relayUrl, details, options);
    return MessagingClient.open(profile, relayUrl, options);
  }

  get address(): DeviceAddress {
    return this.#core.address;
  }

  get online(): boolean {
    return this.#link.online;
  }

  /** The account's display name, as the relay gave it at enrollment. */
  get displayName(): string | undefined {
    return new AccountSecrets(this.#profile.database).account()?.displayName;
  }

  /** Connects (and keeps reconnecting with back-off) until stop(). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#duties.start();
    this.urgent.start();
    this.#link.start();
    this.attachments.resume();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#receiver.stop();
    this.#duties.stop();
    this.urgent.stop();
    this.#attachedSends.stop();
    this.#deferrals.stop();
    await this.#link.stop();
    // Wait for the receive and send chains to settle, including anything chained while waiting.
    await this.#receiver.settled();
    await this.#sender.settled();
    await this.attachments.stop();
    // The database is still open here (lock closes it after stop): the open episodes are audited now.
    this.#duties.auditUnreadable(true);
  }

  /** Deletes messages past the org retention period (audited); also runs at start and daily. */
  applyRetention(): number {
    return this.#duties.applyRetention();
  }

  /** The user opened the conversation: its messages are read, urgent reminders stop, senders are told. */
  markRead(conversationId: ConversationId): MessageId[] {
    return this.#receiver.markRead(conversationId);
  }

  /** Sends a 1:1 text to every device of `to` and our own other devices, through the outbox. */
  sendText(to: UserId, text: string, options: SendOptions = {}): Promise<MessageId> {
    return this.send(this.openDirect(to), text, options);
  }

  /** The 1:1 conversation with `peer` (created locally if new). */
  openDirect(peer: UserId): ConversationId {
    if (peer === this.address.userId) throw new RoundsError('INVALID_INPUT', 'a 1:1 conversation needs another user');
    const id = directConversationId(this.address.userId, peer);
    this.conversations.ensureDirect(id, peer, this.#scheduler.now());
    return id;
  }

  /**
   * Sends a text to a conversation: 1:1 (every device of the other user) or a care team (every device of
   * every member, with sender keys), and our own other devices, through the outbox.
   */
  async send(conversationId: ConversationId, text: string, options: SendOptions = {}): Promise<MessageId> {
    // To an on-call role: whoever holds it now, asked of the relay for this send (RoleConversations.ts).
    const role = this.roleConversations.get(conversationId);
    if (role) return this.roleConversations.send(role, text, options);
    // A 1:1 recipient who is off shift or not to be disturbed, with someone covering: a copy goes to them too,
    // decided now (presence/forwarding.ts) and queued in the same outbox transaction.
    const peer = this.conversations.careTeam(conversationId) ? undefined : this.conversations.peer(conversationId);
    const coverage = peer ? await this.#coverage(peer) : null;
    return this.#texts.sendText(conversationId, text, coverage ? { ...options, coverage } : options);
  }

  /**
   * Sends an urgent message (issue 19): its reason must be one of the organisation's; a 1:1 message may carry
   * an escalation ladder (who receives it after how long if nobody acknowledges).
   */
  async sendUrgent(conversationId: ConversationId, text: string, choice: UrgentChoice, options: Omit<SendOptions, 'urgent' | 'urgency'> = {}): Promise<MessageId> {
    return this.send(conversationId, text, { ...options, ...(await this.urgent.sendOptions(conversationId, choice)) });
  }

  /** Acknowledges an urgent message from someone else (signed, sent to the sender and the team, reported to the relay). */
  acknowledge(messageId: MessageId): void {
    this.urgent.acknowledge(messageId);
  }

  /** Sends staged files to any conversation, urgent or not: stored, uploaded, then sent as without files (AttachedSends.ts). */
  sendWithAttachments(conversationId: ConversationId, text: string, staged: readonly StagingId[], choice: AttachedChoice = {}): Promise<MessageId> {
    return this.#attachedSends.send(conversationId, text, staged, choice);
  }

  /** Creates a care team with this user and `members`; returns its id. */
  createCareTeam(title: string, members: readonly UserId[]): ConversationId {
    return this.#careTeams.create(title, members);
  }

  renameCareTeam(id: ConversationId, title: string): void {
    this.#careTeams.rename(id, title);
  }

  addCareTeamMembers(id: ConversationId, users: readonly UserId[]): void {
    this.#careTeams.addMembers(id, users);
  }

  /** Removes a member (or, with this user's id, leaves); the remaining members' next sends use new sender keys. */
  removeCareTeamMember(id: ConversationId, user: UserId): void {
    this.#careTeams.removeMember(id, user);
  }

  /**
   * The organisation's directory (read from the relay when online; the last copy when not). `reachable`:
   * the colleague has a workstation to send to (one still enrolling has none); unknown offline, so true.
   */
  async directory(): Promise<ContactView[]> {
    let users: DirectoryEntry[] | undefined;
    try {
      users = await this.#sender.readDirectory();
    } catch (error) {
      if (!(error instanceof RelayRequestError)) throw error;
    }
    const byId = new Map(users?.map((u) => [u.userId, u]));
    // Online, the relay's own entries (their directory fields with them); the last copy's names otherwise.
    return this.conversations.contacts().map((c) => {
      const entry = byId.get(c.userId);
      return entry ? contactView(entry) : { ...c, reachable: users === undefined };
    });
  }

  /** Colleagues matching `query` by name, username, department or job title (DirectorySearch.ts). */
  searchDirectory(query: string, limit: number): Promise<ContactView[]> {
    return searchDirectory(this.#relay, this.conversations, query, limit, this.#scheduler.now());
  }

  /** The relay's signed audit bundle (.zip bytes); the relay refuses anyone but the compliance role. */
  relayAuditExport(from: number, to: number, username?: string): Promise<Uint8Array> {
    return this.#relay.auditExport(from, to, username);
  }

  /** The workstations of this account, with the names given when each was added (the relay shows them to their owner). */
  async ownDevices(): Promise<readonly OwnDevice[]> {
    return (await this.#relay.ownDevices()).devices;
  }

  /** Each known device of a contact, with its safety number and whether a change awaits acknowledgement. */
  contactIdentities(userId: UserId): ContactIdentityState[] {
    return this.#core.contactIdentities(userId);
  }

  /** The safety number with one of a contact's devices (digits, and the bytes of its QR code). */
  safetyNumber(address: DeviceAddress) {
    return this.#core.safetyNumber(address);
  }

  /** The user compared the safety numbers in `seen` and accepts them; blocked messages go out. */
  async acknowledgeIdentityChange(userId: UserId, seen: readonly string[]): Promise<number> {
    const count = await this.#core.acknowledgeIdentityChange(userId, seen);
    this.#audit('contact.identityAcknowledged', { user: userId, devices: String(count) });
    if (count > 0) this.#sender.kick();
    return count;
  }

  async markVerified(address: DeviceAddress, verified = true): Promise<void> {
    await this.#core.markVerified(address, verified);
    this.#audit(verified ? 'contact.verified' : 'contact.unverified', { user: address.userId, device: String(address.deviceId) });
  }

  /** Which of these messages still wait in the outbox. */
  pending(messageIds: readonly MessageId[]): Set<MessageId> {
    return this.queries.pending(messageIds);
  }

  /** Messages still waiting to be accepted by the relay. */
  pendingCount(): number {
    return this.queries.pendingCount();
  }

  /** Sends what the outbox holds, oldest first; stops at the first message that cannot go yet. */
  flushOutbox(): Promise<void> {
    return this.#sender.flush();
  }

  #audit<K extends LocalAuditKind>(type: K, details: LocalAuditDetails[K]): void {
    appendLocalAudit(this.#profile.database, this.#scheduler.now(), type, details);
  }

  #emit(event: ClientEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch (error) {
      this.#logger.error(`client event listener failed: ${describeError(error)}`);
    }
  }
}

/** The first half of an enrollment: show the TOTP secret, then complete with password and first code. */
export interface Enrollment {
  readonly totpUri: string;
  readonly totpSecret: string;
  complete(profile: UnlockedProfile, details: { password: string; totpCode: string; deviceName: string }, options?: MessagingClientOptions): Promise<MessagingClient>;
}
