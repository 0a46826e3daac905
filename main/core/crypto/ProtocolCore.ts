import { IdentityKeyPair, PublicKey } from '@signalapp/libsignal-client';
import { randomInt } from 'node:crypto';
import type { CoreEvent } from '../../../shared/events';
import { DeviceAddressSchema, addressKey, parseAddressKey, sameAddress, type ConversationId, type DeviceAddress, type DistributionId, type EnvelopeId, type UserId } from '../../../shared/ids';
import type { Payload, ReceiptPayload, TextPayload } from '../../../shared/payload';
import { EnvelopeSchema } from '../../../shared/wire/envelope';
import { describeWireIssue, tolerant } from '../../../shared/wire/tolerant';
import { systemClock, type Clock } from '../Clock';
import type { Logger } from '../Logger';
import { InvalidMessageError, MalformedEnvelopeError, NoLocalIdentityError, RoundsError, WrongRecipientError } from '../errors';
import { CareTeamCipher, NO_CARE_TEAMS, type CareTeamMembership, type CareTeamSend } from './CareTeamCipher';
import { DirectCipher, type OutgoingCiphertext } from './DirectCipher';
import { fromBase64 } from './encoding';
import { acknowledgementVerifies, signAcknowledgement } from './acknowledgementSignatures';
import type { AcknowledgementStatement, SignedAcknowledgement } from '../../../shared/acknowledgement';
import { forwardingSigningBytes, type ForwardingSignature, type ForwardingTerms, type Presence } from '../../../shared/wire/presence';
import { identitySignatureVerifies, signWithIdentity } from './identitySignatures';
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
  /** Care-team membership, kept by the messaging layer (default: no care teams). */
  readonly careTeams?: CareTeamMembership;
  /** Where a failing event listener is reported (default: standard error). */
  readonly logger?: Logger;
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
  /** The key changed (or the device is new) and the user has not acknowledged it: sending is refused. */
  readonly changePending: 'newKey' | 'newDevice' | null;
  readonly changeDetectedAt: number | null;
  /** The safety number for the key we hold now: what the user compares and acknowledges. */
  readonly safetyNumber: string;
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

  readonly #options: ProtocolCoreOptions;

  private constructor(storage: ProtocolStorage, local: LocalIdentity, options: ProtocolCoreOptions) {
    this.#options = options;
    const onEvent = options.onEvent ?? (() => undefined);
    this.#ctx = new ProtocolContext(storage, local, options.clock ?? systemClock, onEvent, options.logger);
    this.keys = new KeyBundleGenerator(this.#ctx, { ...DEFAULT_KEY_BUNDLE_POLICY, ...options.keyBundlePolicy });
    this.#direct = new DirectCipher(this.#ctx);
    this.#careTeams = new CareTeamCipher(this.#ctx, this.#direct, options.careTeams ?? NO_CARE_TEAMS);
  }

  /**
   * Creates this device's identity key pair and registration id, or opens the one already stored. With
   * `address` null the device is created unregistered: it can generate its keys for enrollment, and
   * register() binds it to the address the relay assigns.
   */
  static createDevice(storage: ProtocolStorage, address: DeviceAddress | null, options: ProtocolCoreOptions = {}): ProtocolCore {
    const existing = readLocalIdentity(storage);
    if (existing) {
      if (address && existing.address && !sameAddress(existing.address, address)) throw new RoundsError('INTERNAL', 'storage already holds another device identity');
      return existing.address || !address ? new ProtocolCore(storage, existing, options) : ProtocolCore.#bind(storage, existing, address, options);
    }
    const local: LocalIdentity = { address: address && DeviceAddressSchema.parse(address), registrationId: randomInt(1, 0x3fff + 1), keyPair: IdentityKeyPair.generate() };
    const staged = new StagedWrites(storage);
    writeLocalIdentity(staged, local);
    staged.commit();
    return new ProtocolCore(storage, local, options);
  }

  /** Binds an unregistered device to the address the relay assigned it; returns the registered core. */
  register(address: DeviceAddress): ProtocolCore {
    const local = this.#ctx.local;
    if (local.address) {
      if (!sameAddress(local.address, address)) throw new RoundsError('INTERNAL', 'this device is already registered under another address');
      return this;
    }
    return ProtocolCore.#bind(this.#ctx.storage, local, address, this.#options);
  }

  static #bind(storage: ProtocolStorage, local: LocalIdentity, address: DeviceAddress, options: ProtocolCoreOptions): ProtocolCore {
    const bound: LocalIdentity = { ...local, address: DeviceAddressSchema.parse(address) };
    const staged = new StagedWrites(storage);
    writeLocalIdentity(staged, bound);
    staged.commit();
    return new ProtocolCore(storage, bound, options);
  }

  static open(storage: ProtocolStorage, options: ProtocolCoreOptions = {}): ProtocolCore {
    const local = readLocalIdentity(storage);
    if (!local) throw new NoLocalIdentityError();
    return new ProtocolCore(storage, local, options);
  }

  /** This device's address; throws NoLocalIdentityError while the device is not registered. */
  get address(): DeviceAddress {
    return this.#ctx.address;
  }

  get registered(): boolean {
    return this.#ctx.local.address !== null;
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

  /** See DirectCipher.startSessions: validates the bundles and enforces identity trust. */
  startSessions(bundles: readonly unknown[]): Promise<void> {
    return this.#direct.startSessions(bundles);
  }

  startSession(bundle: unknown): Promise<void> {
    return this.#direct.startSessions([bundle]);
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

  /** See CareTeamCipher.encrypt: `readers`, every device that may read the message (by default those it goes to now). */
  encryptCareTeam(conversationId: ConversationId, members: readonly DeviceAddress[], payload: TextPayload | ReceiptPayload, readers?: readonly DeviceAddress[]): Promise<CareTeamSend> {
    return this.#careTeams.encrypt(conversationId, members, payload, readers);
  }

  /** See CareTeamCipher.notShared: devices the relay did not take our sender key to get the same key with the next send. */
  careTeamKeyNotShared(conversationId: ConversationId, distributionId: DistributionId, devices: readonly DeviceAddress[]): Promise<void> {
    return this.#careTeams.notShared(conversationId, distributionId, devices);
  }

  /** See CareTeamCipher.holders: the devices recorded as holding our current sender key for the team. */
  careTeamKeyHolders(conversationId: ConversationId): Promise<DeviceAddress[]> {
    return this.#careTeams.holders(conversationId);
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
    const parsed = tolerant(EnvelopeSchema).safeParse(input);
    if (!parsed.success) {
      throw new MalformedEnvelopeError(describeWireIssue(parsed.error));
    }
    const envelope = parsed.data;
    if (!sameAddress(envelope.recipient, this.address)) throw new WrongRecipientError(envelope.recipient, this.address);
    if (sameAddress(envelope.sender, this.address)) throw new InvalidMessageError('envelope claims to come from this device');
    const content = fromBase64(envelope.content);
    const sender = envelope.sender;
    return this.#ctx.run(async (stores): Promise<DecryptedMessage> => {
      try {
        if (envelope.type === 'senderkey') {
          const payload = await this.#careTeams.decryptIn(stores, sender, content);
          return { envelopeId: envelope.id, sender, via: 'careTeam', payload };
        }
        const payload = decodePayload(await this.#direct.decryptIn(stores, envelope.type, sender, content));
        await this.#careTeams.checkDirectIn(stores, sender, payload);
        return { envelopeId: envelope.id, sender, via: 'direct', payload };
      } catch (error) {
        throw toDecryptError(error, sender, stores.staged.storeError);
      }
    }, options.inTransaction);
  }

  /**
   * Signs an acknowledgement of an urgent message with this device's identity key (issue 19). The statement
   * must name this device as the acknowledger: a device signs only for itself.
   */
  signAcknowledgement(statement: AcknowledgementStatement): SignedAcknowledgement {
    if (!sameAddress(statement.acknowledger, this.address)) throw new RoundsError('INVALID_INPUT', 'a device signs only its own acknowledgements');
    return signAcknowledgement(this.#ctx.local.keyPair.privateKey, statement);
  }

  /** Whether this device holds an identity key for `device` to verify its signatures with (itself, or a contact's device it has met). */
  knowsIdentity(device: DeviceAddress): boolean {
    return sameAddress(device, this.address) || readContactIdentity(this.#ctx.staged(), addressKey(device)) !== undefined;
  }

  /**
   * Whether an acknowledgement is signed by the identity key this device trusts for its acknowledger (our own
   * key for this device; for any other, the one recorded for it, which its sessions with us use):
   * false for an unknown device or any other key.
   */
  acknowledgementTrusted(signed: SignedAcknowledgement): boolean {
    const by = signed.statement.acknowledger;
    if (sameAddress(by, this.address)) return acknowledgementVerifies(this.#ctx.local.keyPair.publicKey, signed);
    const record = readContactIdentity(this.#ctx.staged(), addressKey(by));
    return record !== undefined && acknowledgementVerifies(record.keyBytes, signed);
  }

  /** Signs this user's forward-to (issue 19), as this device, at `signedAt`: the relay hands it out, and senders verify it. */
  signForwarding(terms: ForwardingTerms, signedAt: number): ForwardingSignature {
    return { signedAt, signature: signWithIdentity(this.#ctx.local.keyPair.privateKey, forwardingSigningBytes(this.address, terms, signedAt)) };
  }

  /**
   * Whether a colleague's forward-to is theirs: signed, over exactly this status, target and end time, by one of
   * their devices, with the identity key this device already holds for that device from its sessions with it
   * and with no change of it waiting to be acknowledged. Never with a key the relay hands out beside the
   * statement: a relay could name a device this workstation has never met and sign for it itself. Null when
   * trusted, else why not.
   */
  forwardingRefusal(presence: Presence): 'UNSIGNED' | 'UNKNOWN_SIGNER' | 'SIGNER_UNCONFIRMED' | 'SIGNATURE_INVALID' | null {
    const proof = presence.forwarding;
    if (!proof || !presence.forwardTo || proof.signer.userId !== presence.userId) return 'UNSIGNED';
    let key: PublicKey | Uint8Array | undefined;
    if (sameAddress(proof.signer, this.address)) key = this.#ctx.local.keyPair.publicKey;
    else {
      const reader = this.#ctx.staged();
      const signer = addressKey(proof.signer);
      if (readPendingChange(reader, signer)) return 'SIGNER_UNCONFIRMED';
      key = readContactIdentity(reader, signer)?.keyBytes;
    }
    if (!key) return 'UNKNOWN_SIGNER';
    const bytes = forwardingSigningBytes(proof.signer, { status: presence.status, forwardTo: presence.forwardTo, until: presence.until }, proof.signedAt);
    return identitySignatureVerifies(key, bytes, proof.signature) ? null : 'SIGNATURE_INVALID';
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
      if (!record) return [];
      const address = parseAddressKey(key);
      return [{
        address,
        verified: record.verified,
        changePending: pending?.change ?? null,
        changeDetectedAt: pending?.detectedAt ?? null,
        safetyNumber: this.safetyNumber(address).digits,
      }];
    });
  }

  /**
   * The user saw the new safety numbers of `userId` and accepts them: sending is allowed again to each
   * device whose current safety number is among `safetyNumbersSeen`. A key that changed again since the
   * user looked stays blocked. Where the change was learnt from a bundle, the old session is dropped so
   * the next send starts a fresh one. Returns how many devices were acknowledged.
   */
  acknowledgeIdentityChange(userId: UserId, safetyNumbersSeen: readonly string[]): Promise<number> {
    const seen = new Set(safetyNumbersSeen);
    return this.#ctx.run(async ({ staged }) => {
      let count = 0;
      for (const key of pendingChangeKeys(staged).filter((k) => k.startsWith(`${userId}.`))) {
        const record = readContactIdentity(staged, key);
        if (!record) continue;
        const remote = { address: parseAddressKey(key), key: PublicKey.deserialize(Uint8Array.from(record.keyBytes)) };
        if (!seen.has(computeSafetyNumber(this.#selfIdentity(), remote).digits)) continue;
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
