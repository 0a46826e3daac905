import { IdentityKeyPair, PublicKey } from '@signalapp/libsignal-client';
import { randomInt } from 'node:crypto';
import type { CoreEvent } from '../../../shared/events';
import { DeviceAddressSchema, addressKey, sameAddress, type ConversationId, type DeviceAddress, type EnvelopeId, type UserId } from '../../../shared/ids';
import type { Payload, ReceiptPayload, TextPayload } from '../../../shared/payload';
import { EnvelopeSchema } from '../../../shared/wire/envelope';
import { systemClock, type Clock } from '../Clock';
import { InvalidMessageError, MalformedEnvelopeError, NoLocalIdentityError, RoundsError, WrongRecipientError } from '../errors';
import { CareTeamCipher, type CareTeamSend } from './CareTeamCipher';
import { DirectCipher, type OutgoingCiphertext } from './DirectCipher';
import { fromBase64 } from './encoding';
import { pendingChangeKeys, readContactIdentity, readLocalIdentity, readPendingChange, userIdentityKeys, writeContactIdentity, writeLocalIdentity, type LocalIdentity } from './IdentityStore';
import { DEFAULT_KEY_BUNDLE_POLICY, KeyBundleGenerator, type KeyBundlePolicy } from './KeyBundleGenerator';
import { toDecryptError } from './libsignalErrors';
import { decodePayload, encodePayload } from './payloadCodec';
import { ProtocolContext } from './ProtocolContext';
import type { ProtocolStorage } from './ProtocolStorage';
import { compareScanned, computeSafetyNumber, type SafetyNumber } from './SafetyNumber';
import { StagedWrites } from './StagedWrites';

export interface ProtocolCoreOptions {
  readonly clock?: Clock;
  /** Receives identityChanged events, only after the change has been stored. */
  readonly onEvent?: (event: CoreEvent) => void;
  readonly keyBundlePolicy?: Partial<KeyBundlePolicy>;
}

export interface DecryptedMessage {
  readonly envelopeId: EnvelopeId;
  readonly sender: DeviceAddress;
  readonly via: 'direct' | 'careTeam';
  readonly payload: Payload;
}

export interface ContactIdentityState {
  readonly address: DeviceAddress;
  readonly verified: boolean;
  /** The key changed and the user has not acknowledged it: sending to this contact is refused. */
  readonly changePending: boolean;
  readonly changeDetectedAt: number | null;
}

/**
 * The Signal protocol as one device runs it: its identity and prekeys, 1:1 sessions with every device
 * it talks to, care-team sender keys, and the trust state of contacts' identity keys. All cryptography
 * is libsignal's; this class decides what is allowed and keeps storage consistent.
 */
export class ProtocolCore {
  readonly keys: KeyBundleGenerator;
  readonly #ctx: ProtocolContext;
  readonly #direct: DirectCipher;
  readonly #careTeams: CareTeamCipher;

  private constructor(storage: ProtocolStorage, local: LocalIdentity, options: ProtocolCoreOptions) {
    const onEvent = options.onEvent ?? (() => undefined);
    this.#ctx = new ProtocolContext(storage, local, options.clock ?? systemClock, onEvent);
    this.keys = new KeyBundleGenerator(this.#ctx, { ...DEFAULT_KEY_BUNDLE_POLICY, ...options.keyBundlePolicy });
    this.#direct = new DirectCipher(this.#ctx);
    this.#careTeams = new CareTeamCipher(this.#ctx, this.#direct);
  }

  /** Creates this device's identity key pair and registration id, or opens the one already stored. */
  static createDevice(storage: ProtocolStorage, address: DeviceAddress, options: ProtocolCoreOptions = {}): ProtocolCore {
    const existing = readLocalIdentity(storage);
    if (existing) {
      if (!sameAddress(existing.address, address)) throw new RoundsError('INTERNAL', 'storage already holds another device identity');
      return new ProtocolCore(storage, existing, options);
    }
    const local: LocalIdentity = { address: DeviceAddressSchema.parse(address), registrationId: randomInt(1, 0x3fff + 1), keyPair: IdentityKeyPair.generate() };
    const staged = new StagedWrites(storage);
    writeLocalIdentity(staged, local);
    staged.commit();
    return new ProtocolCore(storage, local, options);
  }

  static open(storage: ProtocolStorage, options: ProtocolCoreOptions = {}): ProtocolCore {
    const local = readLocalIdentity(storage);
    if (!local) throw new NoLocalIdentityError();
    return new ProtocolCore(storage, local, options);
  }

  get address(): DeviceAddress {
    return this.#ctx.local.address;
  }

  get registrationId(): number {
    return this.#ctx.local.registrationId;
  }

  /** Our public identity key (serialized). */
  get identityKey(): Uint8Array {
    return this.#ctx.local.keyPair.publicKey.serialize();
  }

  hasSession(address: DeviceAddress): boolean {
    return this.#direct.hasSession(address);
  }

  /** See DirectCipher.startSession: validates the bundle and enforces identity trust. */
  startSession(bundle: unknown): Promise<void> {
    return this.#direct.startSession(bundle);
  }

  /**
   * Encrypts a 1:1 payload for every listed device: each device of the recipient and our own other
   * devices (this device is skipped). Throws IdentityChangedError or NoSessionError before encrypting
   * anything, so a message never reaches only some devices.
   */
  encryptDirect(devices: readonly DeviceAddress[], payload: Payload): Promise<OutgoingCiphertext[]> {
    const recipients = devices.filter((d) => !sameAddress(d, this.address));
    return this.#direct.encrypt(recipients, encodePayload(payload));
  }

  encryptCareTeam(conversationId: ConversationId, members: readonly DeviceAddress[], payload: TextPayload | ReceiptPayload): Promise<CareTeamSend> {
    return this.#careTeams.encrypt(conversationId, members, payload);
  }

  rotateCareTeamKey(conversationId: ConversationId): Promise<void> {
    return this.#careTeams.rotate(conversationId);
  }

  /**
   * Decrypts one envelope (outside input: validated here). Returns the payload or throws a RoundsError.
   * `inTransaction` runs inside the same atomic commit as the ratchet step, so a caller can store the
   * message there and never lose one to a crash in between.
   */
  async decrypt(input: unknown, options: { inTransaction?: (message: DecryptedMessage) => void } = {}): Promise<DecryptedMessage> {
    const parsed = EnvelopeSchema.safeParse(input);
    if (!parsed.success) throw new MalformedEnvelopeError(parsed.error.issues[0]?.path.join('.') || 'invalid', { cause: parsed.error });
    const envelope = parsed.data;
    if (!sameAddress(envelope.recipient, this.address)) throw new WrongRecipientError(envelope.recipient, this.address);
    if (sameAddress(envelope.sender, this.address)) throw new InvalidMessageError('envelope claims to come from this device');
    const content = fromBase64(envelope.content);
    const sender = envelope.sender;
    try {
      return await this.#ctx.run(async (stores): Promise<DecryptedMessage> => {
        if (envelope.type === 'senderkey') {
          const payload = await this.#careTeams.decryptIn(stores, sender, content);
          return { envelopeId: envelope.id, sender, via: 'careTeam', payload };
        }
        const payload = decodePayload(await this.#direct.decryptIn(stores, envelope.type, sender, content));
        if (payload.type === 'senderKeyDistribution') await this.#careTeams.acceptDistributionIn(stores, sender, payload);
        return { envelopeId: envelope.id, sender, via: 'direct', payload };
      }, options.inTransaction);
    } catch (error) {
      throw toDecryptError(error, sender);
    }
  }

  /** The safety number of this device and a contact's device whose identity we know. */
  safetyNumber(remote: DeviceAddress): SafetyNumber {
    return computeSafetyNumber(this.#selfIdentity(), this.#remoteIdentity(remote));
  }

  compareScannedSafetyNumber(remote: DeviceAddress, scanned: Uint8Array): boolean {
    return compareScanned(this.#selfIdentity(), this.#remoteIdentity(remote), scanned);
  }

  contactIdentities(userId: UserId): ContactIdentityState[] {
    const reader = this.#ctx.staged();
    return userIdentityKeys(reader, userId).flatMap((key) => {
      const record = readContactIdentity(reader, key);
      const pending = readPendingChange(reader, key);
      const deviceId = Number(key.slice(key.lastIndexOf('.') + 1));
      if (!record) return [];
      return [{
        address: DeviceAddressSchema.parse({ userId, deviceId }),
        verified: record.verified,
        changePending: pending !== undefined,
        changeDetectedAt: pending?.detectedAt ?? null,
      }];
    });
  }

  /**
   * The user saw the new safety number of `userId` and accepts it: sending is allowed again. Where the
   * change was learnt from a bundle, the old session is dropped so the next send starts a fresh one.
   * Returns how many devices were acknowledged.
   */
  acknowledgeIdentityChange(userId: UserId): Promise<number> {
    return this.#ctx.run(async ({ staged }) => {
      let count = 0;
      for (const key of pendingChangeKeys(staged).filter((k) => k.startsWith(`${userId}.`))) {
        if (readPendingChange(staged, key)?.staleSession) staged.delete('session', key);
        staged.delete('identityChange', key);
        count++;
      }
      return count;
    });
  }

  /** Marks a contact's device as verified (the user compared safety numbers in person or by QR code). */
  markVerified(address: DeviceAddress, verified = true): Promise<void> {
    return this.#ctx.run(async ({ staged }) => {
      const record = readContactIdentity(staged, addressKey(address));
      if (!record) throw new RoundsError('NO_SESSION', `no identity known for ${addressKey(address)}`);
      writeContactIdentity(staged, addressKey(address), { ...record, verified });
    });
  }

  #selfIdentity() {
    return { address: this.address, key: this.#ctx.local.keyPair.publicKey };
  }

  #remoteIdentity(remote: DeviceAddress) {
    const record = readContactIdentity(this.#ctx.staged(), addressKey(remote));
    if (!record) throw new RoundsError('NO_SESSION', `no identity known for ${addressKey(remote)}`);
    return { address: remote, key: PublicKey.deserialize(Uint8Array.from(record.keyBytes)) };
  }
}
