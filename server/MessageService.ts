import { addressKey, sameAddress, type DeviceAddress, type DeviceId, type EnvelopeId, type UserId } from '../shared/ids';
import type { KeyUpload, PreKeyBundle, PreKeyCount } from '../shared/wire/keys';
import type { EnvelopeRefusalCode, OutgoingEnvelope, SendResponse } from '../shared/wire/relay';
import type { Clock } from './Clock';
import { InMemoryRateLimiter, type RateCharge, type RateLimiter } from './RateLimiter';
import type { RelayConfig } from './RelayConfig';
import { RelayFailure } from './RelayFailure';
import { RefusalEpisodes, type RefusalReason } from './RefusalEpisodes';
import type { EnqueueOutcome, RelayStore } from './storage/RelayStore';

const MINUTE = 60_000;
const HOUR = 3600_000;

/** How each store outcome is reported to the sender (undefined: accepted). */
const REFUSAL: Record<EnqueueOutcome, EnvelopeRefusalCode | undefined> = {
  queued: undefined,
  alreadyQueued: undefined,
  queueFull: 'RECIPIENT_QUEUE_FULL',
  idTaken: 'DUPLICATE_ENVELOPE',
  deviceGone: 'UNKNOWN_DEVICE',
};

/** Tells connected devices that something arrived for them, or that their key stock is low. */
export interface DeliveryNotifier {
  envelopesQueued(recipients: readonly DeviceAddress[]): void;
  keysLow(device: DeviceAddress, count: PreKeyCount): void;
}

/*
 * Prekey directory and store-and-forward. The relay sees only ciphertext and the routing metadata
 * (who to whom, size, time); that metadata is what the audit log records.
 */
export class MessageService {
  readonly #activeDevices = new Map<UserId, { until: number; devices: ReadonlySet<number> }>();
  /** Refusals by the queue and rate limits, audited once per episode (RelayServer closes quiet ones). */
  readonly refusals: RefusalEpisodes;

  constructor(
    private readonly store: RelayStore,
    private readonly clock: Clock,
    private readonly config: RelayConfig,
    private readonly notifier: DeliveryNotifier,
    private readonly limiter: RateLimiter = new InMemoryRateLimiter(),
  ) {
    this.refusals = new RefusalEpisodes((events) => store.appendAudit(events), config.refusalEpisodeQuietMs);
  }

  /** Audits the refusal episodes that have gone quiet and forgets refilled rate buckets (a periodic job). */
  async sweepLimits(): Promise<void> {
    const now = this.clock.now();
    this.limiter.prune(now);
    await this.refusals.closeQuiet(now);
  }

  uploadKeys(device: DeviceAddress, upload: KeyUpload): Promise<PreKeyCount> {
    return this.store.storeKeys(device.userId, device.deviceId, upload, [
      { type: 'keys.uploaded', actor: addressKey(device), subject: addressKey(device), details: { preKeys: upload.preKeys.length, kyberPreKeys: upload.kyberPreKeys.length, signedPreKey: upload.signedPreKey !== undefined } },
    ]);
  }

  keyCount(device: DeviceAddress): Promise<PreKeyCount> {
    return this.store.keyCount(device.userId, device.deviceId);
  }

  /** A bundle per active device of the user (or of one device); consumes one-time keys atomically. */
  async bundles(caller: DeviceAddress, userId: UserId, deviceId?: DeviceId): Promise<PreKeyBundle[]> {
    // Each fetch takes a one-time key: limited per fetching device, per device and user fetched (what
    // stops one device draining a colleague's stock), and per user fetched by everyone together.
    const requester = addressKey(caller);
    const limits = this.config.keyFetches;
    this.#charge(caller, 'KEY_FETCH_RATE_LIMITED', userId, [
      { key: `keys.device ${requester}`, cost: 1, limit: { amount: limits.perDevicePerHour, windowMs: HOUR } },
      { key: `keys.peer ${requester} ${userId}`, cost: 1, limit: { amount: limits.perPeerPerHour, windowMs: HOUR } },
      { key: `keys.target ${userId}`, cost: 1, limit: { amount: limits.perTargetPerHour, windowMs: HOUR } },
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
   * outcome. Refused as a whole when the sender is over its rate (SEND_RATE_LIMITED, with Retry-After) or
   * when every envelope is for a full queue (RECIPIENT_QUEUE_FULL); otherwise a full queue, a reused id or
   * a device revoked meanwhile refuses only its own envelopes (`refused`), and the rest are queued: one
   * colleague's full queue must not hold a care team's message back from everyone else.
   */
  async send(sender: DeviceAddress, envelopes: readonly OutgoingEnvelope[]): Promise<SendResponse> {
    const maxChars = Math.ceil(this.config.maxEnvelopeBytes / 3) * 4;
    const tooLarge = envelopes.find((e) => e.content.length > maxChars);
    if (tooLarge) throw new RelayFailure('PAYLOAD_TOO_LARGE', `envelope ${tooLarge.id} exceeds ${this.config.maxEnvelopeBytes} bytes`);
    if (envelopes.some((e) => sameAddress(e.recipient, sender))) throw new RelayFailure('BAD_REQUEST', 'a device cannot send to itself');
    if (new Set(envelopes.map((e) => e.id)).size !== envelopes.length) throw new RelayFailure('BAD_REQUEST', 'every envelope needs its own id');
    const limits = this.config.delivery;
    const bytes = envelopes.reduce((sum, e) => sum + ciphertextBytes(e.content), 0);
    const actor = addressKey(sender);
    this.#charge(sender, 'SEND_RATE_LIMITED', '', [
      { key: `send.envelopes ${actor}`, cost: envelopes.length, limit: { amount: limits.sendEnvelopesPerMinute, windowMs: MINUTE } },
      { key: `send.bytes ${actor}`, cost: bytes, limit: { amount: limits.sendBytesPerMinute, windowMs: MINUTE } },
    ], { envelopes: envelopes.length, bytes });
    await this.#assertCompleteRecipients(sender, envelopes.map((e) => e.recipient));
    const now = this.clock.now();
    const outcomes = await this.store.enqueue(
      envelopes.map((e) => ({ id: e.id, type: e.type, sender, recipient: e.recipient, content: e.content, acceptedAt: now })),
      (e) => ({ type: 'envelope.accepted', actor, subject: e.id, details: { recipient: addressKey(e.recipient), size: ciphertextBytes(e.content), type: e.type } }),
      { maxEnvelopes: limits.maxQueuedEnvelopes, maxBytes: limits.maxQueuedBytes },
    );
    const accepted: EnvelopeId[] = [];
    const refused: { id: EnvelopeId; code: EnvelopeRefusalCode }[] = [];
    const full = new Map<UserId, OutgoingEnvelope[]>();
    envelopes.forEach((e, i) => {
      const outcome = outcomes[i] ?? 'deviceGone';
      const code = REFUSAL[outcome];
      if (code === undefined) accepted.push(e.id);
      else refused.push({ id: e.id, code });
      if (outcome === 'queueFull') full.set(e.recipient.userId, [...(full.get(e.recipient.userId) ?? []), e]);
      // Revoked since the cached device list was read: read it again for the next send.
      if (outcome === 'deviceGone') this.forget(e.recipient.userId);
    });
    for (const [userId, refusedFor] of full) {
      this.refusals.note(actor, 'RECIPIENT_QUEUE_FULL', userId, now, {
        envelopes: refusedFor.length, bytes: refusedFor.reduce((sum, e) => sum + ciphertextBytes(e.content), 0), devices: refusedFor.map((e) => addressKey(e.recipient)),
      });
    }
    if (accepted.length === 0 && full.size > 0 && refused.every((r) => r.code === 'RECIPIENT_QUEUE_FULL')) {
      const devices = envelopes.map((e) => e.recipient);
      throw new RelayFailure('RECIPIENT_QUEUE_FULL', `the relay holds as much as it may for ${devices.map(addressKey).join(', ')} until they connect`, { devices });
    }
    const queued = envelopes.filter((_e, i) => outcomes[i] === 'queued');
    if (queued.length > 0) this.notifier.envelopesQueued(queued.map((e) => e.recipient));
    // `refused` only when something was: a client from before it reads the answer (strictly) as before.
    return { accepted, ...(refused.length > 0 ? { refused } : {}), serverTimestamp: now };
  }

  acknowledge(recipient: DeviceAddress, ids: readonly EnvelopeId[]): Promise<EnvelopeId[]> {
    return this.store.acknowledge(recipient, ids, (id) => ({ type: 'envelope.delivered', actor: addressKey(recipient), subject: id, details: {} }));
  }

  /** Drops the remembered active devices of a user (after a revocation or deactivation). */
  forget(userId: UserId): void {
    this.#activeDevices.delete(userId);
  }

  /** Takes the charges from the rate limiter, or refuses the request (typed, with Retry-After) and notes the episode. */
  #charge(caller: DeviceAddress, reason: RefusalReason, subject: string, charges: readonly RateCharge[], counts: { envelopes?: number; bytes?: number } = {}): void {
    const now = this.clock.now();
    const decision = this.limiter.take(charges, now);
    if (decision.ok) return;
    this.refusals.note(addressKey(caller), reason, subject, now, counts);
    const seconds = Math.ceil(decision.retryAfterMs / 1000);
    const what = reason === 'SEND_RATE_LIMITED' ? 'this device is sending faster than the relay allows' : 'this device is fetching prekeys faster than the relay allows';
    throw new RelayFailure(reason, `${what}; try again in ${seconds} s`, { retryAfterSeconds: seconds, retryAfterMs: decision.retryAfterMs });
  }

  /**
   * Each user addressed must be addressed on every one of their active devices (but the sender's own),
   * and on nothing else: a message to a user reaches all of their devices, or the sender is told which
   * devices it missed or named in vain (UNKNOWN_DEVICE with the list) and refreshes its directory. So a
   * client may keep its directory cached: the relay catches it when it is out of date.
   */
  async #assertCompleteRecipients(sender: DeviceAddress, recipients: readonly DeviceAddress[]): Promise<void> {
    const now = this.clock.now();
    const byUser = new Map<UserId, Set<number>>();
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
   * A user's active device ids, remembered for half a second (every send re-read them otherwise). The
   * store checks again when it commits, so a device revoked in that half second gets nothing queued.
   */
  async #activeDevicesOf(userId: UserId, now: number): Promise<ReadonlySet<number>> {
    const cached = this.#activeDevices.get(userId);
    if (cached && cached.until > now) return cached.devices;
    const user = await this.store.userById(userId);
    const devices = user?.status === 'active'
      ? new Set((await this.store.devices(userId)).filter((d) => d.revokedAt === null && (d.expiresAt === null || d.expiresAt > now)).map((d) => d.deviceId as number))
      : new Set<number>();
    if (this.#activeDevices.size > 50_000) this.#activeDevices.clear();
    this.#activeDevices.set(userId, { until: now + 500, devices });
    return devices;
  }
}

/** Bytes of ciphertext in base64 content (what the limits and the audit log count). */
function ciphertextBytes(content: string): number {
  return Math.floor((content.length * 3) / 4);
}
