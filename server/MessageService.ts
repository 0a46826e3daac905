import { addressKey, sameAddress, type DeviceAddress, type DeviceId, type EnvelopeId, type UserId } from '../shared/ids';
import type { KeyUpload, PreKeyBundle, PreKeyCount } from '../shared/wire/keys';
import type { OutgoingEnvelope } from '../shared/wire/relay';
import type { Clock } from './Clock';
import type { RelayConfig } from './RelayConfig';
import { RelayFailure } from './RelayFailure';
import type { RelayStore } from './storage/RelayStore';

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

  constructor(
    private readonly store: RelayStore,
    private readonly clock: Clock,
    private readonly config: RelayConfig,
    private readonly notifier: DeliveryNotifier,
  ) {}

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

  /** Accepts envelopes for active devices; resolves once they are durably queued. */
  async send(sender: DeviceAddress, envelopes: readonly OutgoingEnvelope[]): Promise<{ accepted: EnvelopeId[]; serverTimestamp: number }> {
    const maxChars = Math.ceil(this.config.maxEnvelopeBytes / 3) * 4;
    const tooLarge = envelopes.find((e) => e.content.length > maxChars);
    if (tooLarge) throw new RelayFailure('PAYLOAD_TOO_LARGE', `envelope ${tooLarge.id} exceeds ${this.config.maxEnvelopeBytes} bytes`);
    if (envelopes.some((e) => sameAddress(e.recipient, sender))) throw new RelayFailure('BAD_REQUEST', 'a device cannot send to itself');
    if (new Set(envelopes.map((e) => e.id)).size !== envelopes.length) throw new RelayFailure('BAD_REQUEST', 'every envelope needs its own id');
    await this.#assertCompleteRecipients(sender, envelopes.map((e) => e.recipient));
    const now = this.clock.now();
    await this.store.enqueue(
      envelopes.map((e) => ({ id: e.id, type: e.type, sender, recipient: e.recipient, content: e.content, acceptedAt: now })),
      (e) => ({ type: 'envelope.accepted', actor: addressKey(sender), subject: e.id, details: { recipient: addressKey(e.recipient), size: Math.floor((e.content.length * 3) / 4), type: e.type } }),
    );
    this.notifier.envelopesQueued(envelopes.map((e) => e.recipient));
    return { accepted: envelopes.map((e) => e.id), serverTimestamp: now };
  }

  acknowledge(recipient: DeviceAddress, ids: readonly EnvelopeId[]): Promise<EnvelopeId[]> {
    return this.store.acknowledge(recipient, ids, (id) => ({ type: 'envelope.delivered', actor: addressKey(recipient), subject: id, details: {} }));
  }

  /** Drops the remembered active devices of a user (after a revocation or deactivation). */
  forget(userId: UserId): void {
    this.#activeDevices.delete(userId);
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
