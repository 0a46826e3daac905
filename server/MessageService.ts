import { describeError } from '../shared/errors';
import { addressKey, sameAddress, type DeviceAddress, type DeviceId, type EnvelopeId, type UserId } from '../shared/ids';
import type { KeyUpload, PreKeyBundle, PreKeyCount } from '../shared/wire/keys';
import type { EnvelopeRefusalCode, OutgoingEnvelope, SendResponse } from '../shared/wire/relay';
import type { Clock } from './Clock';
import { queueLimitsOf } from './queueLimits';
import { InMemoryRateLimiter, type RateCharge, type RateLimiter } from './RateLimiter';
import type { RelayConfig } from './RelayConfig';
import { RelayFailure, STORAGE_RETRY_SECONDS, storageFull } from './RelayFailure';
import { AccountMemory } from './auth/AccountMemory';
import { FreeSpaceGate } from './FreeSpaceGate';
import { RefusalEpisodes, type RefusalCounts, type RefusalReason } from './RefusalEpisodes';
import type { CommittedEnvelope, EnqueueOutcome, RelayStore } from './storage/RelayStore';
import type { RelayLog } from './http/relayLog';
import type { EnvelopeCounts } from './metrics/RelayMetrics';

const NOT_COUNTED: EnvelopeCounts = { accepted: () => undefined, delivered: () => undefined };

const MINUTE = 60_000;
const HOUR = 3600_000;
const DAY = 24 * HOUR;
/** The longest an account's active devices are remembered (control events drop them sooner: see #activeDevicesOf). */
const ACTIVE_DEVICES_TTL_MS = 10 * 60_000;

/** How each store outcome is reported to the sender (undefined: accepted). */
const REFUSAL: Record<EnqueueOutcome, EnvelopeRefusalCode | undefined> = {
  queued: undefined,
  alreadyQueued: undefined,
  queueFull: 'RECIPIENT_QUEUE_FULL',
  // The client does the same as for a full queue (the recipient waits); `share: 'sender'` tells it why.
  senderShareFull: 'RECIPIENT_QUEUE_FULL',
  idTaken: 'DUPLICATE_ENVELOPE',
  deviceGone: 'UNKNOWN_DEVICE',
};

/** Which limit a refused rate bucket is (by its key's first word), and what the client is told. */
const RATE_BUCKETS: readonly { prefix: string; reason: RefusalReason; what: string }[] = [
  { prefix: 'send.day ', reason: 'DAILY_SEND_BUDGET', what: 'this account has sent as many envelopes as the relay allows in a day' },
  { prefix: 'send.account ', reason: 'SEND_RATE_LIMITED', what: "this account's workstations together are sending faster than the relay allows" },
  { prefix: 'send.device ', reason: 'SEND_RATE_LIMITED', what: 'this device is sending faster than the relay allows' },
  { prefix: 'keys.upload ', reason: 'KEY_UPLOAD_RATE_LIMITED', what: 'this device is uploading prekeys more often than the relay allows' },
  { prefix: 'keys.', reason: 'KEY_FETCH_RATE_LIMITED', what: 'this account is fetching prekeys faster than the relay allows' },
  { prefix: 'escalation.', reason: 'SEND_RATE_LIMITED', what: 'this device or account is handing the relay escalations faster than it allows' },
  { prefix: 'acknowledgement.', reason: 'SEND_RATE_LIMITED', what: 'this device or account is reporting acknowledgements faster than the relay allows' },
  { prefix: 'presence.', reason: 'SEND_RATE_LIMITED', what: 'this device or account is changing its status faster than the relay allows' },
];

/** The requests of issue 19 the relay rate-limits besides sends: escalation ladders, acknowledgements, status changes. */
export type RequestKind = 'escalation' | 'acknowledgement' | 'presence';
/** Per minute, as token buckets (a burst of this many, then refilled evenly): far above what a clinician does. */
export const REQUEST_LIMITS: Readonly<Record<RequestKind, { perDevicePerMinute: number; perAccountPerMinute: number }>> = {
  escalation: { perDevicePerMinute: 20, perAccountPerMinute: 40 },
  acknowledgement: { perDevicePerMinute: 60, perAccountPerMinute: 120 },
  presence: { perDevicePerMinute: 20, perAccountPerMinute: 40 },
};

/** Tells connected devices that something arrived for them, or that their key stock is low. */
export interface DeliveryNotifier {
  /** `committed`: those of them the store vouched for (RelayStore.enqueue), which a caught-up delivery may push as they are. */
  envelopesQueued(recipients: readonly DeviceAddress[], committed?: readonly CommittedEnvelope[]): void;
  /** Whether a commit's envelopes for this device could be pushed from memory now (else the store need not name their predecessors). */
  canPushCommitted(device: DeviceAddress): boolean;
  keysLow(device: DeviceAddress, count: PreKeyCount): void;
}

/*
 * Prekey directory and store-and-forward. The relay sees only ciphertext and the routing metadata
 * (who to whom, size, time); that metadata is what the audit log records.
 */
export class MessageService {
  readonly #activeDevices = new AccountMemory<ReadonlySet<number>>(50_000);
  /** Refusals by the queue, rate, budget and storage limits, audited by episode (RelayServer closes quiet ones). */
  readonly refusals: RefusalEpisodes;
  /** The free space below which no new envelope is taken (FreeSpaceGate). */
  readonly #room: FreeSpaceGate;

  constructor(
    private readonly store: RelayStore,
    private readonly clock: Clock,
    private readonly config: RelayConfig,
    private readonly notifier: DeliveryNotifier,
    private readonly limiter: RateLimiter = new InMemoryRateLimiter(),
    private readonly log: RelayLog = () => undefined,
    /** The metrics' envelope counters (RelayMetrics). */
    private readonly counts: EnvelopeCounts = NOT_COUNTED,
  ) {
    this.refusals = new RefusalEpisodes((events) => store.appendAudit(events), config.refusalEpisodeQuietMs);
    this.#room = new FreeSpaceGate(() => store.freeBytes(), () => config.minFreeDiskBytes, log);
  }

  /** Audits the refusal episodes that have gone quiet and forgets refilled rate buckets (a periodic job). */
  async sweepLimits(): Promise<void> {
    const now = this.clock.now();
    await this.limiter.prune(now);
    await this.refusals.closeQuiet(now);
  }

  /**
   * Stores a device's keys: at most `uploadsPerDeviceHour` uploads an hour (`uploadsPerAccountHour` for all
   * of an account's devices together), and never more one-time keys of
   * a kind than `maxStoredPerKind` (each upload is also one audit record, and a Kyber key 1.6 KB of disk).
   */
  async uploadKeys(device: DeviceAddress, upload: KeyUpload): Promise<PreKeyCount> {
    const limits = this.config.keyFetches;
    await this.#charge(device, '', [
      { key: `keys.upload ${addressKey(device)}`, cost: 1, limit: { amount: limits.uploadsPerDeviceHour, windowMs: HOUR } },
      { key: `keys.upload account ${device.userId}`, cost: 1, limit: { amount: limits.uploadsPerAccountHour, windowMs: HOUR } },
    ]);
    const held = await this.store.keyCount(device.userId, device.deviceId);
    if (held.preKeys + upload.preKeys.length > limits.maxStoredPerKind || held.kyberPreKeys + upload.kyberPreKeys.length > limits.maxStoredPerKind) {
      throw new RelayFailure('BAD_REQUEST', `the relay holds at most ${limits.maxStoredPerKind} one-time keys of each kind per device (${held.preKeys} and ${held.kyberPreKeys} now); upload more when it says keysLow`);
    }
    return this.store.storeKeys(device.userId, device.deviceId, upload, [
      { type: 'keys.uploaded', actor: addressKey(device), subject: addressKey(device), details: { preKeys: upload.preKeys.length, kyberPreKeys: upload.kyberPreKeys.length, signedPreKey: upload.signedPreKey !== undefined } },
    ]);
  }

  keyCount(device: DeviceAddress): Promise<PreKeyCount> {
    return this.store.keyCount(device.userId, device.deviceId);
  }

  /**
   * A bundle per active device of the user (or of one device); consumes one-time keys atomically. Limited
   * per fetching account (all its workstations together) and per fetching account and colleague (what stops
   * one account draining a colleague's stock), never per colleague fetched: a budget every requester shared
   * let a few of them lock everyone out of starting sessions with that colleague. A stock drained anyway
   * degrades to the signed prekey and last-resort Kyber key, and keysLow makes its owner refill it.
   */
  async bundles(caller: DeviceAddress, userId: UserId, deviceId?: DeviceId): Promise<PreKeyBundle[]> {
    const limits = this.config.keyFetches;
    await this.#charge(caller, userId, [
      { key: `keys.account ${caller.userId}`, cost: 1, limit: { amount: limits.perAccountPerHour, windowMs: HOUR } },
      { key: `keys.pair ${caller.userId} ${userId}`, cost: 1, limit: { amount: limits.perPairPerHour, windowMs: HOUR } },
    ]);
    const bundles = await this.store.takeBundles(userId, deviceId, (bundle) => ({
      type: 'bundle.fetched',
      actor: addressKey(caller),
      subject: `${bundle.userId}.${bundle.deviceId}`,
      details: { oneTimePreKey: bundle.preKey !== undefined },
    }));
    if (bundles.length === 0) throw new RelayFailure('NOT_FOUND', 'no active device for this user');
    for (const bundle of bundles) {
      const device = { userId: bundle.userId, deviceId: bundle.deviceId };
      const count = await this.store.keyCount(device.userId, device.deviceId);
      if (count.preKeys < this.config.keysLowThreshold || count.kyberPreKeys < this.config.keysLowThreshold) this.notifier.keysLow(device, count);
    }
    return bundles;
  }

  /**
   * Accepts envelopes for active devices; resolves once they are durably queued, with each envelope's
   * outcome. Refused as a whole when the relay is keeping its last free storage (RELAY_STORAGE_FULL), when
   * the sending device or its account is over a rate or the account over its daily budget
   * (SEND_RATE_LIMITED, with Retry-After), or when every envelope is for a full queue, or a queue that holds
   * this account's whole share (RECIPIENT_QUEUE_FULL); otherwise a full queue or share, a reused id or a
   * device revoked meanwhile refuses only its own envelopes (`refused`), and the rest are queued: one
   * colleague's full queue must not hold a care team's message back from everyone else. With `allOwnDevices`
   * the sender's own other devices must all be addressed too (SendRequestSchema). A send of no envelope with
   * `allOwnDevices` only checks that the sender has no other active device.
   */
  async send(sender: DeviceAddress, envelopes: readonly OutgoingEnvelope[], options: { readonly allOwnDevices?: boolean | undefined } = {}): Promise<SendResponse> {
    if (envelopes.length === 0) {
      // Only the check that the sender's other devices are all known (SendRequestSchema): nothing to store or charge.
      if (options.allOwnDevices !== true) throw new RelayFailure('BAD_REQUEST', 'a send needs an envelope, unless it asks only for allOwnDevices');
      await this.#assertCompleteRecipients(sender, [], true);
      return { accepted: [], serverTimestamp: this.clock.now() };
    }
    const maxChars = Math.ceil(this.config.maxEnvelopeBytes / 3) * 4;
    const tooLarge = envelopes.find((e) => e.content.length > maxChars);
    if (tooLarge) throw new RelayFailure('PAYLOAD_TOO_LARGE', `envelope ${tooLarge.id} exceeds ${this.config.maxEnvelopeBytes} bytes`);
    if (envelopes.some((e) => sameAddress(e.recipient, sender))) throw new RelayFailure('BAD_REQUEST', 'a device cannot send to itself');
    if (new Set(envelopes.map((e) => e.id)).size !== envelopes.length) throw new RelayFailure('BAD_REQUEST', 'every envelope needs its own id');
    const bytes = envelopes.reduce((sum, e) => sum + ciphertextBytes(e.content), 0);
    const counts = { envelopes: envelopes.length, bytes };
    // Counted against the free space from the moment the gate lets it through until it is committed. Below the
    // reserve the client keeps the message and tries again.
    const writing = envelopes.reduce((sum, e) => sum + 2 * e.content.length, 0);
    if (!(await this.#room.admit(writing))) {
      await this.#noteRefusal(sender, 'RELAY_STORAGE_FULL', this.clock.now(), counts);
      throw storageFull(`the relay is keeping its last free storage for deliveries; try again in ${STORAGE_RETRY_SECONDS} s`);
    }
    try {
      return await this.#sendChecked(sender, envelopes, counts, options.allOwnDevices === true);
    } finally {
      this.#room.release(writing);
    }
  }

  async #sendChecked(sender: DeviceAddress, envelopes: readonly OutgoingEnvelope[], counts: { envelopes: number; bytes: number }, allOwnDevices: boolean): Promise<SendResponse> {
    const limits = this.config.delivery;
    const device = addressKey(sender);
    // Charged before the device check, refused or not: the charge is taken at once and shared by every instance,
    // so parallel or repeated sends naming strangers cannot make the relay read their device lists for free (a
    // review of an uncharged refusal found both). The client's one corrected retry costs a second send.
    await this.#charge(sender, '', this.#sendCharges(sender, counts), counts);
    await this.#assertCompleteRecipients(sender, envelopes.map((e) => e.recipient), allOwnDevices);
    const now = this.clock.now();
    // An urgent message's envelopes say so (issue 19): their audit records count urgent use per sender.
    const urgent = new Set(envelopes.filter((e) => e.urgent === true).map((e) => e.id));
    let committed: readonly CommittedEnvelope[] | undefined;
    const outcomes = await this.store.enqueue(
      envelopes.map((e) => ({ id: e.id, type: e.type, sender, recipient: e.recipient, content: e.content, acceptedAt: now })),
      (e) => ({ type: 'envelope.accepted', actor: device, subject: e.id, details: { recipient: addressKey(e.recipient), size: ciphertextBytes(e.content), type: e.type, ...(urgent.has(e.id) ? { urgent: true } : {}) } }),
      queueLimitsOf(limits),
      { wants: (recipient) => this.notifier.canPushCommitted(recipient), take: (queued) => (committed = queued) },
    );
    const accepted: EnvelopeId[] = [];
    const refused: NonNullable<SendResponse['refused']> = [];
    const full = { queueFull: [] as OutgoingEnvelope[], senderShareFull: [] as OutgoingEnvelope[] };
    envelopes.forEach((e, i) => {
      const outcome = outcomes[i] ?? 'deviceGone';
      const code = REFUSAL[outcome];
      if (code === undefined) accepted.push(e.id);
      else refused.push({ id: e.id, code, ...(outcome === 'senderShareFull' ? { share: 'sender' as const } : {}) });
      if (outcome === 'queueFull' || outcome === 'senderShareFull') full[outcome].push(e);
      // Revoked since the cached device list was read: read it again for the next send.
      if (outcome === 'deviceGone') this.forget(e.recipient.userId);
    });
    for (const [reason, refusedFor] of [['RECIPIENT_QUEUE_FULL', full.queueFull], ['SENDER_SHARE_FULL', full.senderShareFull]] as const) {
      if (refusedFor.length === 0) continue;
      await this.#noteRefusal(sender, reason, now, {
        users: [...new Set(refusedFor.map((e) => e.recipient.userId))],
        envelopes: refusedFor.length, bytes: refusedFor.reduce((sum, e) => sum + ciphertextBytes(e.content), 0), devices: refusedFor.map((e) => addressKey(e.recipient)),
      });
    }
    const anyFull = full.queueFull.length + full.senderShareFull.length > 0;
    if (accepted.length === 0 && anyFull && refused.every((r) => r.code === 'RECIPIENT_QUEUE_FULL')) {
      const devices = envelopes.map((e) => e.recipient);
      const named = devices.map(addressKey).join(', ');
      if (full.queueFull.length === 0) {
        throw new RelayFailure('RECIPIENT_QUEUE_FULL', `the relay holds as much from this account as one sender may have waiting for ${named} until they connect`, { devices, share: 'sender' });
      }
      throw new RelayFailure('RECIPIENT_QUEUE_FULL', `the relay holds as much as it may for ${named} until they connect`, { devices });
    }
    const queued = envelopes.filter((_e, i) => outcomes[i] === 'queued');
    // Stored as text (base64), beside its audit record: counted twice over against the free-space reading.
    this.#room.accepted(queued.reduce((sum, e) => sum + 2 * e.content.length, 0));
    // A resend found already queued is announced too: its first attempt may have committed without its sender
    // hearing so (a connection lost at the commit), and then nobody told the recipient's socket here.
    const waiting = envelopes.filter((_e, i) => outcomes[i] === 'queued' || outcomes[i] === 'alreadyQueued');
    if (waiting.length > 0) this.notifier.envelopesQueued(waiting.map((e) => e.recipient), committed);
    this.counts.accepted(queued.length);
    // `refused` only when something was: a client from before it reads the answer (strictly) as before.
    return { accepted, ...(refused.length > 0 ? { refused } : {}), serverTimestamp: now };
  }

  async acknowledge(recipient: DeviceAddress, ids: readonly EnvelopeId[]): Promise<EnvelopeId[]> {
    const removed = await this.store.acknowledge(recipient, ids, (id) => ({ type: 'envelope.delivered', actor: addressKey(recipient), subject: id, details: {} }));
    this.counts.delivered(removed.length);
    return removed;
  }

  /** Drops the remembered active devices of a user (after a control event about the account). */
  forget(userId: UserId): void {
    this.#activeDevices.forget(userId);
  }

  /** Drops every account's remembered devices (control events may have been missed). */
  forgetAll(): void {
    this.#activeDevices.forgetAll();
  }

  /**
   * Charges a request of issue 19 to the same limiter as sends (refused likewise, SEND_RATE_LIMITED with
   * Retry-After): its kind's own buckets per device and per account, and an escalation ladder's envelopes and
   * bytes to the send buckets too (they are envelopes the relay will queue).
   */
  async chargeRequest(caller: DeviceAddress, kind: RequestKind, envelopes?: { envelopes: number; bytes: number }): Promise<void> {
    const limit = REQUEST_LIMITS[kind];
    await this.#charge(caller, '', [
      { key: `${kind}.device ${addressKey(caller)}`, cost: 1, limit: { amount: limit.perDevicePerMinute, windowMs: MINUTE } },
      { key: `${kind}.account ${caller.userId}`, cost: 1, limit: { amount: limit.perAccountPerMinute, windowMs: MINUTE } },
      ...(envelopes ? this.#sendCharges(caller, envelopes) : []),
    ], envelopes ?? {});
  }

  #sendCharges(sender: DeviceAddress, counts: { envelopes: number; bytes: number }): RateCharge[] {
    const limits = this.config.delivery;
    const device = addressKey(sender);
    const account = sender.userId;
    return [
      { key: `send.device ${device} envelopes`, cost: counts.envelopes, limit: { amount: limits.sendEnvelopesPerMinute, windowMs: MINUTE } },
      { key: `send.device ${device} bytes`, cost: counts.bytes, limit: { amount: limits.sendBytesPerMinute, windowMs: MINUTE } },
      { key: `send.account ${account} envelopes`, cost: counts.envelopes, limit: { amount: limits.accountEnvelopesPerMinute, windowMs: MINUTE } },
      { key: `send.account ${account} bytes`, cost: counts.bytes, limit: { amount: limits.accountBytesPerMinute, windowMs: MINUTE } },
      { key: `send.day ${account}`, cost: counts.envelopes, limit: { amount: limits.accountEnvelopesPerDay, windowMs: DAY } },
    ];
  }

  /**
   * Takes the charges from the rate limiter, or refuses the request (typed, with Retry-After) once the
   * refusal is audited (the first of its episode is written before the client hears it).
   */
  async #charge(caller: DeviceAddress, subject: string, charges: readonly RateCharge[], counts: { envelopes?: number; bytes?: number } = {}): Promise<void> {
    const now = this.clock.now();
    const decision = await this.limiter.take(charges, now);
    if (decision.ok) return;
    const bucket = RATE_BUCKETS.find((b) => decision.key.startsWith(b.prefix)) ?? { reason: 'SEND_RATE_LIMITED' as const, what: 'this device is sending faster than the relay allows' };
    await this.#noteRefusal(caller, bucket.reason, now, { ...counts, users: subject === '' ? [] : [subject] });
    const seconds = Math.ceil(decision.retryAfterMs / 1000);
    const code = bucket.reason === 'KEY_FETCH_RATE_LIMITED' || bucket.reason === 'KEY_UPLOAD_RATE_LIMITED' ? bucket.reason : 'SEND_RATE_LIMITED';
    throw new RelayFailure(code, `${bucket.what}; try again in ${seconds} s`, { retryAfterSeconds: seconds, retryAfterMs: decision.retryAfterMs });
  }

  /** Audits a refusal (by episode). A refusal stands even if its record cannot be written: that is logged. */
  async #noteRefusal(caller: DeviceAddress, reason: RefusalReason, at: number, counts: RefusalCounts): Promise<void> {
    await this.refusals.note(caller, reason, at, counts).catch((error: unknown) => this.log(`auditing a ${reason} refusal failed: ${describeError(error)}`, 'error', { device: addressKey(caller) }));
  }

  /**
   * Each user addressed must be addressed on every one of their active devices (but the sender's own),
   * and on nothing else: a message to a user reaches all of their devices, or the sender is told which
   * devices it missed or named in vain (UNKNOWN_DEVICE with the list) and refreshes its directory. So a
   * client may keep its directory cached: the relay catches it when it is out of date. With `allOwnDevices`
   * the sender's own user counts as addressed even when no envelope names it (a workstation that does not know
   * of its user's newer one would otherwise leave it without the copy of what was sent).
   */
  async #assertCompleteRecipients(sender: DeviceAddress, recipients: readonly DeviceAddress[], allOwnDevices: boolean): Promise<void> {
    const now = this.clock.now();
    const byUser = new Map<UserId, Set<number>>();
    if (allOwnDevices) byUser.set(sender.userId, new Set());
    for (const r of recipients) byUser.set(r.userId, (byUser.get(r.userId) ?? new Set()).add(r.deviceId));
    const mismatched: DeviceAddress[] = [];
    for (const [userId, addressed] of byUser) {
      const active = new Set(await this.#activeDevicesOf(userId, now));
      if (userId === sender.userId) active.delete(sender.deviceId);
      for (const deviceId of addressed) if (!active.has(deviceId)) mismatched.push({ userId, deviceId: deviceId as DeviceId });
      for (const deviceId of active) if (!addressed.has(deviceId)) mismatched.push({ userId, deviceId: deviceId as DeviceId });
    }
    if (mismatched.length > 0) throw new RelayFailure('UNKNOWN_DEVICE', 'the devices of a recipient changed; refresh the directory and send again', { devices: mismatched });
  }

  /**
   * A user's active device ids, remembered until a control event about the account (a device added or
   * revoked, the account deactivated: forget()) or the first emergency sign-in's end, at most ACTIVE_DEVICES_TTL_MS
   * (every send re-read them otherwise). Read in one statement of two narrow columns: a relay's first minutes
   * read them for every account addressed (the devices' and the account's whole rows were ~5 % of its time
   * between random pairs among 10,000 devices). The store checks again when it
   * commits, so a device revoked before the event is applied gets nothing queued.
   */
  async #activeDevicesOf(userId: UserId, now: number): Promise<ReadonlySet<number>> {
    const cached = this.#activeDevices.get(userId, '', now);
    if (cached) return cached;
    // Taken before the reads: a control event applied while they run means their answer is not remembered.
    const generation = this.#activeDevices.generation(userId);
    const active = await this.store.activeDevices(userId, now);
    const devices = new Set(active.map((d) => d.deviceId as number));
    const until = Math.min(now + ACTIVE_DEVICES_TTL_MS, ...active.map((d) => d.expiresAt ?? Number.MAX_SAFE_INTEGER));
    this.#activeDevices.set(userId, '', devices, until, generation);
    return devices;
  }
}

/** Bytes of ciphertext in base64 content (what the limits and the audit log count). */
function ciphertextBytes(content: string): number {
  return Math.floor((content.length * 3) / 4);
}
