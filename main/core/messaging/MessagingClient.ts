import { randomUUID } from 'node:crypto';
import { describeError } from '../../../shared/errors';
import { DeviceIdSchema, MessageIdSchema, UserIdSchema, sameAddress, type ConversationId, type DeviceAddress, type MessageId, type UserId } from '../../../shared/ids';
import { PAYLOAD_VERSION, PayloadSchema, ReceiptPayloadSchema, TextPayloadSchema, type TextPayload } from '../../../shared/payload';
import type { DeliveredEnvelope, DirectoryEntry } from '../../../shared/wire/relay';
import type { Clock } from '../Clock';
import type { CareTeamMembership } from '../crypto/CareTeamCipher';
import { sealEnvelope } from '../crypto/envelopes';
import { ProtocolCore, type DecryptedMessage } from '../crypto/ProtocolCore';
import { IdentityChangedError, RoundsError } from '../errors';
import type { UnlockedProfile } from '../storage/LocalProfiles';
import { MessageStore } from '../storage/MessageStore';
import { applyRetention } from '../storage/Retention';
import { DEFAULT_URGENT_POLICY, UrgentReminders, realScheduler, type Scheduler, type UrgentPolicy } from './UrgentReminders';
import { directConversationId } from './directConversation';
import { RelayClient, RelayRequestError, type RelayConnection } from './RelayClient';

export type ClientEvent =
  | { readonly type: 'message'; readonly conversationId: ConversationId; readonly messageId: MessageId; readonly from: UserId; readonly urgent: boolean }
  | { readonly type: 'receipt'; readonly kind: 'delivered' | 'read'; readonly messageIds: readonly MessageId[]; readonly from: UserId }
  /** Raise the notification of an unread urgent message again (the UI shows no text unless policy allows). */
  | { readonly type: 'urgentReminder'; readonly conversationId: ConversationId; readonly messageId: MessageId; readonly reminder: number }
  | { readonly type: 'connection'; readonly state: 'connecting' | 'online' | 'offline' }
  | { readonly type: 'sendBlocked'; readonly messageId: MessageId; readonly reason: 'IDENTITY_CHANGED'; readonly userId: UserId };

export interface MessagingClientOptions {
  readonly onEvent?: (event: ClientEvent) => void;
  readonly careTeams?: CareTeamMembership;
  /** Reconnect back-off: first and longest delay (ms). */
  readonly backoff?: { readonly firstMs: number; readonly maxMs: number };
  /** Org policy for urgent messages (default: every 2 minutes, at most 10 times). */
  readonly urgent?: UrgentPolicy;
  /** Org policy: delete messages older than this many days (default: keep). */
  readonly retentionDays?: number | null;
  /** Time and timers (injected in tests). */
  readonly scheduler?: Scheduler;
}

/** The account this profile belongs to, kept in the encrypted database (never in a plain file). */
interface AccountSecrets {
  readonly userId: UserId;
  readonly deviceId: number;
  readonly credential: string;
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

  private constructor(profile: UnlockedProfile, core: ProtocolCore, relay: RelayClient, options: MessagingClientOptions) {
    this.#profile = profile;
    this.#core = core;
    this.#relay = relay;
    this.#scheduler = options.scheduler ?? realScheduler;
    this.#clock = this.#scheduler;
    this.#options = options;
    this.#backoffMs = options.backoff?.firstMs ?? 1000;
    this.messages = new MessageStore(profile.database);
  }

  /** The user opened the conversation: its messages are read, urgent reminders stop, senders are told. */
  markRead(conversationId: ConversationId): MessageId[] {
    const ids = this.messages.markRead(conversationId, this.address.userId, this.#clock.now());
    this.#urgent?.read(ids);
    for (const [sender, { ids: theirs }] of this.messages.senders(ids)) this.#queueReceipt(sender, conversationId, 'read', theirs);
    if (ids.length > 0) void this.flushOutbox();
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
    const relay = new RelayClient(relayUrl);
    const begin = await relay.enrollBegin(details.username, details.enrollmentCode);
    const unregistered = ProtocolCore.createDevice(profile.protocolStorage, null, coreOptions(options));
    const code = await details.authenticator({ uri: begin.totpUri, secret: begin.totpSecret });
    const session = await relay.enrollComplete(begin.enrollmentId, details.password, code, { name: details.deviceName, keys: await unregistered.keys.initialUpload() });
    const core = unregistered.register({ userId: session.userId, deviceId: session.deviceId });
    writeSecrets(profile, { userId: session.userId, deviceId: session.deviceId, credential: session.credential });
    return new MessagingClient(profile, core, relay, options);
  }

  /** Re-opens an enrolled profile (after unlock or a restart). */
  static open(profile: UnlockedProfile, relayUrl: string, options: MessagingClientOptions = {}): MessagingClient {
    const secrets = readSecrets(profile);
    if (!secrets) throw new RoundsError('NO_LOCAL_IDENTITY', 'this profile has not been enrolled with a relay');
    return new MessagingClient(profile, ProtocolCore.open(profile.protocolStorage, coreOptions(options)), new RelayClient(relayUrl, secrets.credential), options);
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
    void this.#connect();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#urgent?.stop();
    this.#retentionTimer?.cancel();
    clearTimeout(this.#reconnectTimer);
    await this.#connection?.close();
    this.#connection = undefined;
    await this.#receiving;
    await this.#sending.catch(() => undefined);
  }

  /** Sends a 1:1 text to every device of `to` and our own other devices, through the outbox. */
  async sendText(to: UserId, text: string, options: { urgent?: boolean; replyTo?: MessageId } = {}): Promise<MessageId> {
    const conversationId = directConversationId(this.address.userId, to);
    const payload: TextPayload = TextPayloadSchema.parse({
      v: PAYLOAD_VERSION, type: 'text', messageId: MessageIdSchema.parse(randomUUID()), conversationId, sentAt: this.#clock.now(), text,
      ...(options.urgent ? { urgent: true } : {}), ...(options.replyTo ? { replyTo: options.replyTo } : {}),
    });
    const db = this.#profile.database;
    db.transaction(() => {
      db.run('INSERT INTO outbox (message_id, recipients, payload, created_at) VALUES ($id, $r, $p, $at)', { id: payload.messageId, r: JSON.stringify([to]), p: JSON.stringify(payload), at: this.#clock.now() });
      this.messages.insert({ id: payload.messageId, conversationId, sender: this.address, sentAt: payload.sentAt, receivedAt: payload.sentAt, body: text, replyTo: payload.replyTo ?? null, urgent: payload.urgent ?? false });
    });
    void this.flushOutbox();
    return payload.messageId;
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

  async #flush(): Promise<void> {
    const db = this.#profile.database;
    let refreshed = false;
    for (;;) {
      const row = db.get<{ seq: number; message_id: string; recipients: string; payload: string }>('SELECT seq, message_id, recipients, payload FROM outbox ORDER BY seq LIMIT 1');
      if (!row) return;
      const payload = PayloadSchema.parse(JSON.parse(row.payload));
      const recipients = (JSON.parse(row.recipients) as string[]).map((u) => UserIdSchema.parse(u));
      try {
        this.#directory ??= (await this.#relay.directory()).users;
        const devices = this.#directory
          .filter((u) => recipients.includes(u.userId) || u.userId === this.address.userId)
          .flatMap((u) => u.devices.map((deviceId): DeviceAddress => ({ userId: u.userId, deviceId })))
          .filter((d) => !sameAddress(d, this.address));
        await this.#ensureSessions(devices);
        const envelopes = (await this.#core.encryptDirect(devices, payload)).map((o) => {
          const { sender: _sender, ...outgoing } = sealEnvelope(this.address, o);
          return outgoing;
        });
        if (envelopes.length > 0) await (this.#connection?.open ? this.#connection.send(envelopes) : this.#relay.send(envelopes));
        db.run('DELETE FROM outbox WHERE seq = $seq', { seq: row.seq });
        refreshed = false;
      } catch (error) {
        if (error instanceof RelayRequestError && error.code === 'UNKNOWN_DEVICE' && !refreshed) {
          // Someone's devices changed since the directory was read: read it again and retry at once.
          this.#directory = undefined;
          refreshed = true;
          continue;
        }
        db.run('UPDATE outbox SET attempts = attempts + 1 WHERE seq = $seq', { seq: row.seq });
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
      this.#backoffMs = this.#options.backoff?.firstMs ?? 1000;
      this.#emit({ type: 'connection', state: 'online' });
      if (this.#core.keys.rotationDue()) await this.#relay.uploadKeys(await this.#core.keys.rotateSignedPreKeys());
      void this.flushOutbox();
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
      let stored: DecryptedMessage | undefined;
      try {
        await this.#core.decrypt(envelope, { inTransaction: (m) => { if (this.#store(m, envelope.serverTimestamp)) stored = m; } });
      } catch (error) {
        // A duplicate (already stored) or an envelope that can never be read: acknowledge it so it does
        // not block the queue; the reason (a code, never content) goes to the local audit log.
        const code = error instanceof RoundsError ? error.code : 'INTERNAL';
        if (code !== 'DUPLICATE_MESSAGE') this.#audit('message.rejected', { code, envelope: envelope.id, error: describeError(error).slice(0, 200) });
      }
      this.#connection?.ack([envelope.id]);
      if (stored && stored.payload.type === 'text') {
        const conversationId = this.#conversationOf(stored);
        const fromOthers = stored.sender.userId !== this.address.userId;
        const urgent = stored.payload.urgent === true && fromOthers;
        if (urgent) this.#urgent?.track(stored.payload.messageId, conversationId);
        if (fromOthers) {
          this.#queueReceipt(stored.sender.userId, stored.payload.conversationId, 'delivered', [stored.payload.messageId]);
          void this.flushOutbox();
        }
        this.#emit({ type: 'message', conversationId, messageId: stored.payload.messageId, from: stored.sender.userId, urgent });
      } else if (stored && stored.payload.type === 'receipt') {
        this.#emit({ type: 'receipt', kind: stored.payload.receipt, messageIds: stored.payload.messageIds, from: stored.sender.userId });
      }
    });
  }

  /** Stores a decrypted text; inside the decrypt transaction. Returns whether it was new. */
  #store(message: DecryptedMessage, receivedAt: number): boolean {
    const { payload, sender } = message;
    if (payload.type === 'receipt') {
      // Only receipts from others, about messages we hold, count.
      if (sender.userId === this.address.userId) return false;
      this.messages.recordReceipt(payload.messageIds, sender.userId, payload.receipt, receivedAt);
      return true;
    }
    if (payload.type !== 'text') return false;
    return this.messages.insert({ id: payload.messageId, conversationId: this.#conversationOf(message), sender, sentAt: payload.sentAt, receivedAt, body: payload.text, replyTo: payload.replyTo ?? null, urgent: payload.urgent ?? false });
  }

  /**
   * A 1:1 text from someone else is filed under the conversation of that sender and us, whatever id it
   * claims; a copy of our own message from another of our devices names its conversation itself.
   */
  #conversationOf(message: DecryptedMessage): ConversationId {
    const self = this.address.userId;
    return message.via === 'direct' && message.sender.userId !== self ? directConversationId(message.sender.userId, self) : message.payload.conversationId;
  }

  #audit(type: string, details: Record<string, string>): void {
    this.#profile.database.run('INSERT INTO local_audit (at, type, details) VALUES ($at, $type, $details)', { at: this.#clock.now(), type, details: JSON.stringify(details) });
  }

  #emit(event: ClientEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch (error) {
      console.error(`client event listener failed: ${describeError(error)}`);
    }
  }
}

function coreOptions(options: MessagingClientOptions) {
  return options.careTeams ? { careTeams: options.careTeams } : {};
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
  return { userId: UserIdSchema.parse(userId), deviceId: DeviceIdSchema.parse(Number(deviceId)), credential };
}
