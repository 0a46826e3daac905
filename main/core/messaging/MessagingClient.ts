import { createHash, randomUUID } from 'node:crypto';
import { describeError } from '../../../shared/errors';
import type { UiEvent } from '../../../shared/contract';
import type { IdentityChangedEvent } from '../../../shared/events';
import { CareTeamIdSchema, DeviceIdSchema, MessageIdSchema, UserIdSchema, addressKey, sameAddress, type ConversationId, type DeviceAddress, type MessageId, type UserId } from '../../../shared/ids';
import { CareTeamPayloadSchema, PAYLOAD_VERSION, PayloadSchema, ReceiptPayloadSchema, TextPayloadSchema, type Payload, type TextPayload } from '../../../shared/payload';
import type { KeyUpload } from '../../../shared/wire/keys';
import type { DeliveredEnvelope, DirectoryEntry } from '../../../shared/wire/relay';
import { realScheduler, type Clock, type Scheduler } from '../Clock';
import { sealEnvelope } from '../crypto/envelopes';
import type { OutgoingCiphertext } from '../crypto/DirectCipher';
import { ProtocolCore, type ContactIdentityState, type DecryptedMessage } from '../crypto/ProtocolCore';
import { IdentityChangedError, RoundsError } from '../errors';
import { ConversationStore, type Contact } from '../storage/ConversationStore';
import type { UnlockedProfile } from '../storage/LocalProfiles';
import { appendLocalAudit } from '../storage/localAudit';
import { createDeviceAuditKey } from '../audit/LocalAudit';
import { MessageStore } from '../storage/MessageStore';
import { applyRetention } from '../storage/Retention';
import { LIMITS } from '../../../shared/limits';
import { DEFAULT_URGENT_POLICY, UrgentReminders, type UrgentPolicy } from './UrgentReminders';
import { directConversationId } from './directConversation';
import { RelayClient, RelayRequestError, type RelayConnection } from './RelayClient';
import { DEFAULT_DEFERRAL, SendDeferrals, type DeferralPolicy } from './SendDeferrals';
import { UnreadableEnvelopes } from './UnreadableEnvelopes';
import type { RelayTrust } from './RelayTrust';

/**
 * What the client tells its owner: the contract's UI events but the session ones (which RoundsApp
 * raises). The UI shows no message text in a notification unless policy allows.
 */
export type ClientEvent = Exclude<UiEvent, { type: 'session' }>;

export interface MessagingClientOptions {
  readonly onEvent?: (event: ClientEvent) => void;
  /** Reconnect back-off: first and longest delay (ms). */
  readonly backoff?: { readonly firstMs: number; readonly maxMs: number };
  /** Org policy for urgent messages (default: every 2 minutes, at most 10 times). */
  readonly urgent?: UrgentPolicy;
  /** Org policy: delete messages older than this many days (default: keep). */
  readonly retentionDays?: number | null;
  /** Time and timers (injected in tests). */
  readonly scheduler?: Scheduler;
  /** The hospital's own CAs for the relay's TLS certificate (org policy `relayCaFile`). */
  readonly relayTrust?: RelayTrust;
  /**
   * When a recipient's queue on the relay is full: first and longest wait (ms) before trying them again
   * (default 30 s, doubling to 15 minutes; a reconnect does not shorten it, a new message does not either).
   */
  readonly deferral?: DeferralPolicy;
}

/** The account this profile belongs to, kept in the encrypted database (never in a plain file). */
interface AccountSecrets {
  readonly userId: UserId;
  readonly deviceId: number;
  readonly credential: string;
  /** The account's name as the relay knows it (for this profile's own screens). */
  readonly displayName?: string;
}

/*
 * The messaging client of one local profile: it keeps the relay connection (with back-off), stores every
 * message it decrypts in the same transaction as the ratchet step and only then acknowledges it (so a
 * crash in between means the relay delivers it again, and it is stored once), and sends through an
 * outbox in the encrypted database that survives restarts. Message text never leaves the core except
 * encrypted, and never reaches a log.
 */
export class MessagingClient {
  readonly messages: MessageStore;
  readonly conversations: ConversationStore;
  readonly #core: ProtocolCore;
  readonly #profile: UnlockedProfile;
  readonly #relay: RelayClient;
  readonly #clock: Clock;
  readonly #options: MessagingClientOptions;
  #connection: RelayConnection | undefined;
  #running = false;
  #backoffMs: number;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #receiving: Promise<unknown> = Promise.resolve();
  #sending: Promise<unknown> = Promise.resolve();

  readonly #scheduler: Scheduler;
  /**
   * The organisation's directory (who has which devices), kept between sends: the relay refuses a send
   * that misses or invents a device (UNKNOWN_DEVICE), and then it is read again.
   */
  #directory: DirectoryEntry[] | undefined;
  #urgent: UrgentReminders | undefined;
  #retentionTimer: { cancel(): void } | undefined;
  /** Full queues and rate limits on the relay: who and what the outbox waits for, and until when. */
  readonly #deferrals: SendDeferrals;
  /** Envelopes that could not be read, audited once per sender's episode. */
  readonly #unreadable: UnreadableEnvelopes;
  #unreadableTimer: { cancel(): void } | undefined;

  private constructor(profile: UnlockedProfile, core: ProtocolCore, relay: RelayClient, options: MessagingClientOptions) {
    this.#profile = profile;
    this.#core = core;
    this.conversations = new ConversationStore(profile.database);
    this.#relay = relay;
    this.#scheduler = options.scheduler ?? realScheduler;
    this.#clock = this.#scheduler;
    this.#options = options;
    this.#backoffMs = options.backoff?.firstMs ?? 1000;
    this.messages = new MessageStore(profile.database);
    this.#deferrals = new SendDeferrals(this.#scheduler, options.deferral ?? DEFAULT_DEFERRAL, () => this.#kick(), (event) => this.#emit(event));
    this.#unreadable = new UnreadableEnvelopes(this.#clock, (details) => this.#audit('message.rejected', details));
  }

  /** The user opened the conversation: its messages are read, urgent reminders stop, senders are told. */
  markRead(conversationId: ConversationId): MessageId[] {
    const ids = this.messages.markRead(conversationId, this.address.userId, this.#clock.now());
    if (ids.length > 0) this.#audit('message.read', { conversation: conversationId, messages: ids.join(' ') });
    this.#urgent?.read(ids);
    for (const [sender, { ids: theirs }] of this.messages.senders(ids)) this.#queueReceipt(sender, conversationId, 'read', theirs);
    if (ids.length > 0) this.#kick();
    return ids;
  }

  /** Queues a receipt in the outbox (it survives restarts like any message). */
  #queueReceipt(to: UserId, conversationId: ConversationId, kind: 'delivered' | 'read', messageIds: readonly MessageId[]): void {
    const payload = ReceiptPayloadSchema.parse({ v: PAYLOAD_VERSION, type: 'receipt', receipt: kind, conversationId, messageIds, sentAt: this.#clock.now() });
    this.#profile.database.run('INSERT INTO outbox (message_id, recipients, payload, created_at) VALUES ($id, $r, $p, $at)', { id: randomUUID(), r: JSON.stringify([to]), p: JSON.stringify(payload), at: this.#clock.now() });
  }

  /** Deletes messages past the org retention period (audited); also runs at start and daily. */
  applyRetention(): number {
    const days = this.#options.retentionDays;
    return days ? applyRetention(this.#profile.database, this.messages, days, this.#clock.now()) : 0;
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

  /**
   * Enrollment in two steps, for a UI: the relay checks the username and one-time enrollment code and
   * hands out the TOTP secret to show; `complete` (password and the first TOTP code) registers this
   * profile's device with its keys.
   */
  static async beginEnrollment(relayUrl: string, username: string, enrollmentCode: string, trust?: RelayTrust): Promise<Enrollment> {
    const relay = new RelayClient(relayUrl, undefined, trust);
    const begin = await relay.enrollBegin(username, enrollmentCode);
    return {
      totpUri: begin.totpUri,
      totpSecret: begin.totpSecret,
      complete: (profile, details, options = {}) => MessagingClient.#register(profile, relay, options, (keys, auditKey) => relay.enrollComplete(begin.enrollmentId, details.password, details.totpCode, { name: details.deviceName, keys, auditKey })),
    };
  }

  /** Another device of an existing account (a second workstation): password and TOTP, new keys. */
  static login(profile: UnlockedProfile, relayUrl: string, details: { username: string; password: string; totpCode: string; deviceName: string }, options: MessagingClientOptions = {}): Promise<MessagingClient> {
    const relay = new RelayClient(relayUrl, undefined, options.relayTrust);
    return MessagingClient.#register(profile, relay, options, (keys, auditKey) => relay.login(details.username, details.password, details.totpCode, { kind: 'new', name: details.deviceName, keys, auditKey }));
  }

  static async #register(profile: UnlockedProfile, relay: RelayClient, options: MessagingClientOptions, request: (keys: KeyUpload, auditKey: string) => Promise<{ userId: UserId; deviceId: DeviceAddress['deviceId']; credential: string; displayName: string }>): Promise<MessagingClient> {
    if (readSecrets(profile)) throw new RoundsError('ALREADY_ENROLLED', 'this profile already belongs to a device of an account');
    const conversations = new ConversationStore(profile.database);
    const unregistered = ProtocolCore.createDevice(profile.protocolStorage, null, coreOptions(conversations, options));
    // The device's audit key: its public half goes to the relay, which records it in its own signed log.
    const auditKey = createDeviceAuditKey(profile.database);
    const session = await request(await unregistered.keys.initialUpload(), auditKey.publicKeyBase64);
    const core = unregistered.register({ userId: session.userId, deviceId: session.deviceId });
    writeSecrets(profile, { userId: session.userId, deviceId: session.deviceId, credential: session.credential, displayName: session.displayName });
    return new MessagingClient(profile, core, relay, options);
  }

  /** Re-opens an enrolled profile (after unlock or a restart). */
  static open(profile: UnlockedProfile, relayUrl: string, options: MessagingClientOptions = {}): MessagingClient {
    const secrets = readSecrets(profile);
    if (!secrets) throw new RoundsError('NO_LOCAL_IDENTITY', 'this profile has not been enrolled with a relay');
    const core = ProtocolCore.open(profile.protocolStorage, coreOptions(new ConversationStore(profile.database), options));
    return new MessagingClient(profile, core, new RelayClient(relayUrl, secrets.credential, options.relayTrust), options);
  }

  /**
   * Signs this device in again after the policy's sign-out period: password and a fresh TOTP code; the
   * relay issues a new device credential (the old one stops working). The request carries the device's
   * current credential: it proves the attempt comes from this enrolled workstation, which the relay then
   * throttles on its own, so strangers guessing at the account cannot lock the clinician out of it.
   */
  static async signIn(profile: UnlockedProfile, relayUrl: string, details: { username: string; password: string; totpCode: string }, options: MessagingClientOptions = {}): Promise<MessagingClient> {
    const secrets = readSecrets(profile);
    if (!secrets) throw new RoundsError('NO_LOCAL_IDENTITY', 'this profile has not been enrolled with a relay');
    const relay = new RelayClient(relayUrl, secrets.credential, options.relayTrust);
    const session = await relay.login(details.username, details.password, details.totpCode, { kind: 'existing', deviceId: DeviceIdSchema.parse(secrets.deviceId) });
    writeSecrets(profile, { ...secrets, credential: session.credential, displayName: session.displayName });
    return MessagingClient.open(profile, relayUrl, options);
  }

  get address(): DeviceAddress {
    return this.#core.address;
  }

  get online(): boolean {
    return this.#connection?.open ?? false;
  }

  /** Connects (and keeps reconnecting with back-off) until stop(). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#urgent = new UrgentReminders(this.#options.urgent ?? DEFAULT_URGENT_POLICY, this.#scheduler, (r) => this.#emit({ type: 'urgentReminder', ...r }));
    for (const m of this.messages.unreadUrgent(this.address.userId)) this.#urgent.track(m.id, m.conversationId, m.receivedAt);
    this.applyRetention();
    this.#retentionTimer = this.#scheduler.every(24 * 3600_000, () => this.applyRetention());
    this.#unreadableTimer = this.#scheduler.every(60_000, () => this.#auditUnreadable(false));
    void this.#connect();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#urgent?.stop();
    this.#retentionTimer?.cancel();
    this.#unreadableTimer?.cancel();
    this.#deferrals.stop();
    clearTimeout(this.#reconnectTimer);
    await this.#connection?.close();
    this.#connection = undefined;
    // Wait for the receive and send chains to settle, including anything chained while waiting.
    for (let receiving; receiving !== this.#receiving; ) await (receiving = this.#receiving);
    for (let sending; sending !== this.#sending; ) await (sending = this.#sending).catch(() => undefined);
    // The database is still open here (lock closes it after stop): the open episodes are audited now.
    this.#auditUnreadable(true);
  }

  /** Sends a 1:1 text to every device of `to` and our own other devices, through the outbox. */
  sendText(to: UserId, text: string, options: SendOptions = {}): Promise<MessageId> {
    const conversationId = this.openDirect(to);
    return this.send(conversationId, text, options);
  }

  /** The 1:1 conversation with `peer` (created locally if new). */
  openDirect(peer: UserId): ConversationId {
    if (peer === this.address.userId) throw new RoundsError('INVALID_INPUT', 'a 1:1 conversation needs another user');
    const id = directConversationId(this.address.userId, peer);
    this.conversations.ensureDirect(id, peer, this.#clock.now());
    return id;
  }

  /**
   * Sends a text to a conversation: 1:1 (every device of the other user) or a care team (every device of
   * every member, with sender keys), and our own other devices, through the outbox.
   */
  async send(conversationId: ConversationId, text: string, options: SendOptions = {}): Promise<MessageId> {
    const summary = this.#conversation(conversationId);
    if (summary.kind === 'careTeam' && !summary.isMember) throw new RoundsError('NOT_A_MEMBER', 'this user is no longer a member of the care team');
    const payload: TextPayload = TextPayloadSchema.parse({
      v: PAYLOAD_VERSION, type: 'text', messageId: MessageIdSchema.parse(randomUUID()), conversationId, sentAt: this.#clock.now(), text,
      ...(options.urgent ? { urgent: true } : {}), ...(options.replyTo ? { replyTo: options.replyTo } : {}),
      ...(summary.peer ? { to: summary.peer } : {}),
    });
    const db = this.#profile.database;
    const recipients = summary.peer ? [summary.peer] : summary.members.filter((m) => m !== this.address.userId);
    db.transaction(() => {
      this.#queue(recipients, payload);
      this.messages.insert({ id: payload.messageId, conversationId, sender: this.address, sentAt: payload.sentAt, receivedAt: payload.sentAt, body: text, replyTo: payload.replyTo ?? null, urgent: payload.urgent ?? false, recipients });
    });
    this.#kick();
    return payload.messageId;
  }

  /** Creates a care team with this user and `members`; returns its id. */
  createCareTeam(title: string, members: readonly UserId[]): ConversationId {
    const id = CareTeamIdSchema.parse(randomUUID());
    this.#changeCareTeam(id, undefined, { title, members: [this.address.userId, ...members] });
    return id;
  }

  renameCareTeam(id: ConversationId, title: string): void {
    const team = this.#memberTeam(id);
    this.#changeCareTeam(id, team, { title, members: team.members });
  }

  addCareTeamMembers(id: ConversationId, users: readonly UserId[]): void {
    const team = this.#memberTeam(id);
    this.#changeCareTeam(id, team, { title: team.title, members: [...team.members, ...users] });
  }

  /** Removes a member (or, with this user's id, leaves); the remaining members' next sends use new sender keys. */
  removeCareTeamMember(id: ConversationId, user: UserId): void {
    const team = this.#memberTeam(id);
    if (!team.members.includes(user)) throw new RoundsError('INVALID_INPUT', 'that user is not a member of the care team');
    this.#changeCareTeam(id, team, { title: team.title, members: team.members.filter((m) => m !== user) });
  }

  #memberTeam(id: ConversationId) {
    const team = this.conversations.careTeam(id);
    if (!team) throw new RoundsError('NOT_FOUND', 'no such care team');
    if (!team.isMember) throw new RoundsError('NOT_A_MEMBER', 'this user is no longer a member of the care team');
    return team;
  }

  /** Applies the next version of a care team here and sends it to every member, old and new. */
  #changeCareTeam(id: ConversationId, current: { epoch: number; members: readonly UserId[] } | undefined, next: { title: string; members: readonly UserId[] }): void {
    const members = [...new Set(next.members)];
    if (members.length > LIMITS.maxCareTeamMembers) throw new RoundsError('INVALID_INPUT', `a care team has at most ${LIMITS.maxCareTeamMembers} members`);
    const update = CareTeamPayloadSchema.parse({ v: PAYLOAD_VERSION, type: 'careTeam', conversationId: id, epoch: (current?.epoch ?? 0) + 1, title: next.title, members, sentAt: this.#clock.now() });
    const db = this.#profile.database;
    db.transaction(() => {
      this.conversations.applyCareTeam(update, this.address.userId, this.address.userId, this.#clock.now());
      this.#queue([...new Set([...(current?.members ?? []), ...members])].filter((u) => u !== this.address.userId), update);
      this.#audit('careTeam.changed', { conversation: id, epoch: String(update.epoch), members: String(members.length) });
    });
    this.#emit({ type: 'conversation', conversationId: id });
    this.#kick();
  }

  /** The care team as we hold it now, as the payload that announces it. */
  #teamState(team: { id: ConversationId; title: string; epoch: number; members: readonly UserId[] }) {
    return CareTeamPayloadSchema.parse({ v: PAYLOAD_VERSION, type: 'careTeam', conversationId: team.id, epoch: team.epoch, title: team.title, members: team.members, sentAt: this.#clock.now() });
  }

  /** Puts a payload in the outbox for `recipients` (and our own other devices). */
  #queue(recipients: readonly UserId[], payload: Payload): void {
    const id = payload.type === 'text' ? payload.messageId : randomUUID();
    this.#profile.database.run('INSERT INTO outbox (message_id, recipients, payload, created_at) VALUES ($id, $r, $p, $at)', { id, r: JSON.stringify(recipients), p: JSON.stringify(payload), at: this.#clock.now() });
  }

  #conversation(id: ConversationId): { kind: 'direct' | 'careTeam'; peer: UserId | null; isMember: boolean; members: readonly UserId[] } {
    const team = this.conversations.careTeam(id);
    if (team) return { kind: 'careTeam', peer: null, isMember: team.isMember, members: team.members };
    const peer = this.conversations.peer(id);
    if (!peer) throw new RoundsError('NOT_FOUND', 'no such conversation');
    return { kind: 'direct', peer, isMember: true, members: [] };
  }

  /** The organisation's directory (read from the relay when online; the last copy when not). */
  async directory(): Promise<Contact[]> {
    try {
      await this.#readDirectory();
    } catch (error) {
      if (!(error instanceof RelayRequestError)) throw error;
    }
    return this.conversations.contacts();
  }

  /** The relay's signed audit bundle (.zip bytes); the relay refuses anyone but the compliance role. */
  relayAuditExport(from: number, to: number, username?: string): Promise<Uint8Array> {
    return this.#relay.auditExport(from, to, username);
  }

  /** The devices of this account (from the relay's directory). */
  async ownDevices(): Promise<DeviceAddress['deviceId'][]> {
    const users = await this.#readDirectory();
    return users.find((u) => u.userId === this.address.userId)?.devices ?? [this.address.deviceId];
  }

  async #readDirectory(): Promise<DirectoryEntry[]> {
    const users = (await this.#relay.directory()).users;
    this.conversations.saveContacts(users, this.#clock.now());
    this.#directory = users;
    return users;
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
    if (count > 0) this.#kick();
    return count;
  }

  async markVerified(address: DeviceAddress, verified = true): Promise<void> {
    await this.#core.markVerified(address, verified);
    this.#audit(verified ? 'contact.verified' : 'contact.unverified', { user: address.userId, device: String(address.deviceId) });
  }

  /** The account's display name, as the relay gave it at enrollment. */
  get displayName(): string | undefined {
    return readSecrets(this.#profile)?.displayName;
  }

  /** Which of these messages still wait in the outbox. */
  pending(messageIds: readonly MessageId[]): Set<MessageId> {
    const out = new Set<MessageId>();
    for (const id of messageIds) if (this.#profile.database.get('SELECT 1 AS yes FROM outbox WHERE message_id = $id', { id })) out.add(id);
    return out;
  }

  /** Messages still waiting to be accepted by the relay. */
  pendingCount(): number {
    return this.#profile.database.get<{ n: number }>('SELECT count(*) AS n FROM outbox')?.n ?? 0;
  }

  /** Sends what the outbox holds, oldest first; stops at the first message that cannot go yet. */
  flushOutbox(): Promise<void> {
    const run = this.#sending.then(() => this.#flush());
    this.#sending = run.catch(() => undefined);
    return run;
  }

  /** Starts a flush in the background; a failure stays in the outbox for the next one (logged by code only). */
  #kick(): void {
    if (!this.#running) return;
    this.flushOutbox().catch((error: unknown) => {
      if (!(error instanceof RoundsError && error.code === 'PROFILE_LOCKED')) console.error(`outbox flush failed: ${describeError(error)}`);
    });
  }

  async #flush(): Promise<void> {
    const db = this.#profile.database;
    let refreshed = false;
    /** Rows up to this one wait for recipients whose queue on the relay is full; the later ones still go. */
    let after = 0;
    // After stop() (lock, quit) nothing more goes out: the rest waits in the outbox for the next start.
    while (this.#running) {
      const now = this.#clock.now();
      // Over the relay's rate: nothing goes before the time it gave (a timer flushes again then).
      if (this.#deferrals.paused(now)) return;
      const row = db.get<{ seq: number; message_id: string; recipients: string; payload: string; attempts: number }>('SELECT seq, message_id, recipients, payload, attempts FROM outbox WHERE seq > $after ORDER BY seq LIMIT 1', { after });
      if (!row) return;
      const payload = PayloadSchema.parse(JSON.parse(row.payload));
      const team = payload.type === 'text' ? this.conversations.careTeam(payload.conversationId) : undefined;
      if (team && !team.isMember && payload.type === 'text') {
        // Removed before it went: it can never be sent.
        db.transaction(() => {
          db.run('DELETE FROM outbox WHERE seq = $seq', { seq: row.seq });
          this.messages.markSendFailed(payload.messageId, 'NOT_A_MEMBER');
        });
        this.#emit({ type: 'sendFailed', messageId: payload.messageId, reason: 'NOT_A_MEMBER' });
        continue;
      }
      const queuedFor = (JSON.parse(row.recipients) as string[]).map((u) => UserIdSchema.parse(u));
      // A team text goes to those who were members when it was written and still are (not to someone
      // added since, who must not read what was said before they joined, nor to someone removed).
      const recipients = team ? queuedFor.filter((u) => team.members.includes(u)) : queuedFor;
      // Someone whose queue on the relay is full waits (and so does everything after for them: their
      // messages stay in order); everyone else gets the message now.
      const self = this.address.userId;
      const held = recipients.filter((u) => this.#deferrals.holds(u, now));
      const selfHeld = this.#deferrals.holds(self, now);
      const sendTo = recipients.filter((u) => !held.includes(u));
      if (sendTo.length === 0 && (held.length > 0 || selfHeld)) {
        if (payload.type === 'text') this.#deferrals.announce(payload.messageId, held[0] ?? self, now);
        after = row.seq;
        continue;
      }
      try {
        if (team && row.attempts > 0) {
          // An earlier attempt may have recorded our sender key as shared with devices that never got
          // it (the relay refused, or the app stopped in between): start a new key, shared afresh.
          await this.#core.rotateCareTeamKey(team.id);
        }
        if (team) db.run('UPDATE outbox SET attempts = attempts + 1 WHERE seq = $seq', { seq: row.seq });
        const directory = this.#directory ?? await this.#readDirectory();
        const devices = directory
          .filter((u) => sendTo.includes(u.userId) || (u.userId === self && !selfHeld))
          .flatMap((u) => u.devices.map((deviceId): DeviceAddress => ({ userId: u.userId, deviceId })))
          .filter((d) => !sameAddress(d, this.address));
        await this.#ensureSessions(devices);
        let ciphertexts: readonly OutgoingCiphertext[];
        if (team && payload.type === 'text') {
          const send = await this.#core.encryptCareTeam(team.id, devices, payload);
          // Devices getting our key for the first time (a new member, or a member's new workstation) get
          // the team itself first, so they know whose key it is; devices that know it already ignore it.
          const newcomers = send.senderKeyShares.map((share) => share.recipient);
          const state = newcomers.length > 0 ? await this.#core.encryptDirect(newcomers, this.#teamState(team)) : [];
          ciphertexts = [...state, ...send.senderKeyShares, ...send.messages];
        } else {
          ciphertexts = await this.#core.encryptDirect(devices, payload);
        }
        const envelopes = ciphertexts.map((o) => {
          const { sender: _sender, ...outgoing } = sealEnvelope(this.address, o);
          return outgoing;
        });
        const result = envelopes.length > 0 ? await (this.#connection?.open ? this.#connection.send(envelopes) : this.#relay.send(envelopes)) : undefined;
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
        for (const userId of full) this.#deferrals.defer(userId, now, shareFull.has(userId) ? 'SENDER_SHARE_FULL' : 'RECIPIENT_QUEUE_FULL');
        for (const userId of selfHeld ? sendTo : [...sendTo, self]) if (!full.has(userId)) this.#deferrals.clear(userId);
        const waiting = [...new Set([...held, ...full, ...again])].filter((u) => u !== self);
        const ownWaiting = selfHeld || full.has(self) || again.has(self);
        const reached = sendTo.filter((u) => !full.has(u) && !again.has(u));
        const delivered = envelopes.filter((e) => !refused.has(e.id));
        db.transaction(() => {
          if (waiting.length === 0 && !ownWaiting) db.run('DELETE FROM outbox WHERE seq = $seq', { seq: row.seq });
          else db.run('UPDATE outbox SET recipients = $r WHERE seq = $seq', { seq: row.seq, r: JSON.stringify(waiting) });
          if (payload.type === 'text' && (delivered.length > 0 || envelopes.length === 0)) {
            this.#audit('message.sent', { conversation: payload.conversationId, message: payload.messageId, sender: addressKey(this.address), recipients: reached.join(' '), ciphertextSha256: digestOf(delivered.map((e) => e.content)) });
          }
        });
        const first = [...full][0];
        if (first !== undefined && payload.type === 'text') this.#deferrals.announce(payload.messageId, first, now);
        if (waiting.length > 0 || ownWaiting) after = row.seq;
        else if (payload.type === 'text') this.#deferrals.settled(payload.messageId);
        refreshed = false;
      } catch (error) {
        if (error instanceof RelayRequestError && error.code === 'UNKNOWN_DEVICE' && !refreshed) {
          // Someone's devices changed since the directory was read: read it again and retry at once.
          this.#directory = undefined;
          refreshed = true;
          continue;
        }
        if (error instanceof RelayRequestError && (error.code === 'SEND_RATE_LIMITED' || error.code === 'KEY_FETCH_RATE_LIMITED' || error.code === 'RELAY_STORAGE_FULL')) {
          // This workstation is over the relay's rate, or the relay is short of disk: everything waits as
          // long as the relay said.
          this.#deferrals.pause(now, error.details.retryAfterMs, error.code === 'RELAY_STORAGE_FULL' ? 'RELAY_STORAGE_FULL' : 'RATE_LIMITED');
          if (payload.type === 'text') this.#deferrals.announce(payload.messageId, undefined, now);
          return;
        }
        if (error instanceof RelayRequestError && error.code === 'RECIPIENT_QUEUE_FULL') {
          // Every device addressed has a full queue: they wait, later messages for others go on.
          const named = (error.details.devices ?? []).map((d) => UserIdSchema.parse(d.userId));
          // (A relay that names no device: everyone this send was for.)
          const full = named.length > 0 ? named : sendTo.length > 0 ? sendTo : [self];
          for (const userId of new Set(full)) this.#deferrals.defer(userId, now, error.details.share === 'sender' ? 'SENDER_SHARE_FULL' : 'RECIPIENT_QUEUE_FULL');
          if (payload.type === 'text') this.#deferrals.announce(payload.messageId, full[0], now);
          after = row.seq;
          continue;
        }
        if (!team) db.run('UPDATE outbox SET attempts = attempts + 1 WHERE seq = $seq', { seq: row.seq });
        if (error instanceof IdentityChangedError && payload.type === 'text') {
          this.#emit({ type: 'sendBlocked', messageId: payload.messageId, reason: 'IDENTITY_CHANGED', userId: error.userId });
        }
        // Kept in order: later messages wait for this one, until the next flush (reconnect or send).
        return;
      }
    }
  }

  async #ensureSessions(devices: readonly DeviceAddress[]): Promise<void> {
    const missing = devices.filter((d) => !this.#core.hasSession(d));
    if (missing.length === 0) return;
    const bundles = (await Promise.all([...new Set(missing.map((d) => d.userId))].map((userId) => this.#relay.bundles(userId)))).flat();
    await this.#core.startSessions(bundles.filter((b) => missing.some((m) => m.userId === b.userId && m.deviceId === b.deviceId)));
  }

  async #connect(): Promise<void> {
    if (!this.#running) return;
    this.#emit({ type: 'connection', state: 'connecting' });
    try {
      this.#connection = await this.#relay.connect({
        onEnvelope: (envelope) => this.#enqueueReceive(envelope),
        onKeysLow: (count) => void this.#core.keys.replenish(count).then((upload) => upload && this.#relay.uploadKeys(upload)).catch(() => undefined),
        onClose: () => {
          this.#connection = undefined;
          this.#emit({ type: 'connection', state: 'offline' });
          this.#scheduleReconnect();
        },
      });
      if (!this.#running) {
        // Stopped (locked) while the connection was opening: close it, say nothing, touch nothing.
        const late = this.#connection;
        this.#connection = undefined;
        await late.close();
        return;
      }
      this.#backoffMs = this.#options.backoff?.firstMs ?? 1000;
      this.#emit({ type: 'connection', state: 'online' });
      if (this.#core.keys.rotationDue()) await this.#relay.uploadKeys(await this.#core.keys.rotateSignedPreKeys());
      this.#kick();
    } catch {
      this.#emit({ type: 'connection', state: 'offline' });
      this.#scheduleReconnect();
    }
  }

  #scheduleReconnect(): void {
    if (!this.#running || this.#reconnectTimer?.hasRef()) return;
    const max = this.#options.backoff?.maxMs ?? 30_000;
    const delay = this.#backoffMs * (0.8 + Math.random() * 0.4);
    this.#backoffMs = Math.min(max, this.#backoffMs * 2);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#connect();
    }, delay);
  }

  /** Decrypt, store (same transaction as the ratchet step), then acknowledge; one envelope at a time. */
  #enqueueReceive(envelope: DeliveredEnvelope): void {
    this.#receiving = this.#receiving.then(async () => {
      // After stop() nothing more is stored or acknowledged: the relay delivers it again next time.
      if (!this.#running) return;
      let stored: DecryptedMessage | undefined;
      try {
        await this.#core.decrypt(envelope, { inTransaction: (m) => { if (this.#store(m, envelope.serverTimestamp, envelope.content)) stored = m; } });
      } catch (error) {
        // A duplicate (already stored) or an envelope that can never be read: acknowledge it so it does
        // not block the queue; the reason (a code, never content) goes to the local audit log, counted
        // per sender: a flood of garbage is one record per episode, not one per envelope.
        const code = error instanceof RoundsError ? error.code : 'INTERNAL';
        if (code !== 'DUPLICATE_MESSAGE') this.#unreadable.note(envelope, code, describeError(error));
      }
      this.#connection?.ack([envelope.id]);
      if (stored && stored.payload.type === 'text') {
        const conversationId = this.#conversationOf(stored);
        const fromOthers = stored.sender.userId !== this.address.userId;
        const urgent = stored.payload.urgent === true && fromOthers;
        if (urgent) this.#urgent?.track(stored.payload.messageId, conversationId);
        if (fromOthers) {
          this.#queueReceipt(stored.sender.userId, stored.payload.conversationId, 'delivered', [stored.payload.messageId]);
          this.#kick();
        }
        this.#emit({ type: 'message', conversationId, messageId: stored.payload.messageId, from: stored.sender.userId, urgent });
      } else if (stored && stored.payload.type === 'receipt') {
        this.#emit({ type: 'receipt', kind: stored.payload.receipt, messageIds: stored.payload.messageIds, from: stored.sender.userId });
      } else if (stored && stored.payload.type === 'careTeam') {
        this.#emit({ type: 'conversation', conversationId: stored.payload.conversationId });
      }
    });
  }

  /** Audits the episodes of unreadable envelopes that went quiet (all of them at stop, while the database is open). */
  #auditUnreadable(all: boolean): void {
    try {
      this.#unreadable.flush(all);
    } catch (error) {
      console.error(`auditing unreadable envelopes failed: ${describeError(error)}`);
    }
  }

  /** Stores a decrypted text; inside the decrypt transaction. Returns whether it was new. */
  #store(message: DecryptedMessage, receivedAt: number, ciphertext?: string): boolean {
    const { payload, sender } = message;
    if (payload.type === 'receipt') {
      // Only receipts from others, about messages we hold, count.
      if (sender.userId === this.address.userId) return false;
      this.messages.recordReceipt(payload.messageIds, sender.userId, payload.receipt, receivedAt);
      return true;
    }
    if (payload.type === 'careTeam') return this.conversations.applyCareTeam(payload, sender.userId, this.address.userId, receivedAt);
    if (payload.type !== 'text') return false;
    const conversationId = this.#conversationOf(message);
    if (message.via === 'direct') {
      const peer = sender.userId !== this.address.userId ? sender.userId : payload.to;
      // A copy of our own 1:1 message names the other user; it must match the conversation id.
      if (peer && directConversationId(this.address.userId, peer) === conversationId) this.conversations.ensureDirect(conversationId, peer, receivedAt);
    }
    const stored = this.messages.insert({ id: payload.messageId, conversationId, sender, sentAt: payload.sentAt, receivedAt, body: payload.text, replyTo: payload.replyTo ?? null, urgent: payload.urgent ?? false });
    if (stored) this.#audit('message.received', { conversation: conversationId, message: payload.messageId, sender: addressKey(sender), recipients: this.address.userId, ciphertextSha256: ciphertext ? digestOf([ciphertext]) : null });
    return stored;
  }

  /**
   * A 1:1 text from someone else is filed under the conversation of that sender and us, whatever id it
   * claims; a copy of our own message from another of our devices names its conversation itself.
   */
  #conversationOf(message: DecryptedMessage): ConversationId {
    const self = this.address.userId;
    return message.via === 'direct' && message.sender.userId !== self ? directConversationId(message.sender.userId, self) : message.payload.conversationId;
  }

  #audit(type: string, details: Record<string, string | null>): void {
    appendLocalAudit(this.#profile.database, this.#clock.now(), type, details);
  }

  #emit(event: ClientEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch (error) {
      console.error(`client event listener failed: ${describeError(error)}`);
    }
  }
}

/** SHA-256 (hex) of the ciphertexts of one message (base64 as sent), for the audit log: never the text. */
function digestOf(contents: readonly string[]): string {
  const hash = createHash('sha256');
  for (const c of contents) hash.update(Buffer.from(c, 'base64'));
  return hash.digest('hex');
}

export interface SendOptions {
  readonly urgent?: boolean;
  readonly replyTo?: MessageId;
}

/** The first half of an enrollment: show the TOTP secret, then complete with password and first code. */
export interface Enrollment {
  readonly totpUri: string;
  readonly totpSecret: string;
  complete(profile: UnlockedProfile, details: { password: string; totpCode: string; deviceName: string }, options?: MessagingClientOptions): Promise<MessagingClient>;
}

function coreOptions(conversations: ConversationStore, options: MessagingClientOptions) {
  // Identity changes join the client's event stream (the core raises them after they are stored).
  return { careTeams: conversations, onEvent: (event: IdentityChangedEvent) => options.onEvent?.(event) };
}

function writeSecrets(profile: UnlockedProfile, secrets: AccountSecrets): void {
  const db = profile.database;
  db.transaction(() => {
    for (const [name, value] of Object.entries(secrets)) db.run('INSERT INTO secrets (name, value) VALUES ($n, $v) ON CONFLICT (name) DO UPDATE SET value = excluded.value', { n: name, v: String(value) });
  });
}

function readSecrets(profile: UnlockedProfile): AccountSecrets | undefined {
  const rows = profile.database.all<{ name: string; value: string }>('SELECT name, value FROM secrets');
  const map = new Map(rows.map((r) => [r.name, r.value]));
  const userId = map.get('userId');
  const deviceId = map.get('deviceId');
  const credential = map.get('credential');
  if (!userId || !deviceId || !credential) return undefined;
  const displayName = map.get('displayName');
  return { userId: UserIdSchema.parse(userId), deviceId: DeviceIdSchema.parse(Number(deviceId)), credential, ...(displayName ? { displayName } : {}) };
}
