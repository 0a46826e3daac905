import {
  CiphertextMessageType,
  ErrorCode,
  LibSignalErrorBase,
  KEMPublicKey,
  PreKeyBundle as SignalPreKeyBundle,
  PreKeySignalMessage,
  PublicKey,
  SessionRecord,
  SignalMessage,
  processPreKeyBundle,
  signalDecrypt,
  signalDecryptPreKey,
  signalEncrypt,
} from '@signalapp/libsignal-client';
import { addressKey, sameAddress, type DeviceAddress } from '../../../shared/ids';
import { PreKeyBundleSchema, type PreKeyBundle } from '../../../shared/wire/keys';
import { tolerant } from '../../../shared/wire/tolerant';
import type { EnvelopeType } from '../../../shared/wire/envelope';
import { IdentityChangedError, InvalidBundleError, NoSessionError } from '../errors';
import { bytesEqual, fromBase64 } from './encoding';
import { isFirstContact, markDeviceListSeen, pendingChangeKeys, readContactIdentity, readPendingChange, recordContactIdentity } from './IdentityStore';
import { toProtocolAddress, type OperationStores, type ProtocolContext } from './ProtocolContext';
import type { StagedWrites } from './StagedWrites';

/** One ciphertext for one device, ready to be put in an envelope. */
export interface OutgoingCiphertext {
  readonly recipient: DeviceAddress;
  readonly type: EnvelopeType;
  readonly content: Uint8Array;
}

/** 1:1 sessions (PQXDH to start, then the Double Ratchet) with every device we talk to. */
export class DirectCipher {
  readonly #ctx: ProtocolContext;

  constructor(ctx: ProtocolContext) {
    this.#ctx = ctx;
  }

  hasSession(address: DeviceAddress): boolean {
    const bytes = this.#ctx.storage.get('session', addressKey(address));
    return bytes !== undefined && SessionRecord.deserialize(Uint8Array.from(bytes)).hasCurrentState(new Date(this.#ctx.clock.now()));
  }

  /**
   * Starts sessions from bundles the relay handed out (outside input: validated here, signatures
   * checked before anything is recorded). Devices of a contact we knew nothing of are trusted on first
   * use, all together; a changed key, or a device we had not seen of a contact we know, is recorded as
   * an identity change and refused with IdentityChangedError until the user acknowledges it. Sessions
   * with the other devices in the same call still start.
   */
  async startSessions(inputs: readonly unknown[]): Promise<void> {
    const bundles = inputs.map((input) => {
      const parsed = tolerant(PreKeyBundleSchema).safeParse(input);
      if (!parsed.success) throw new InvalidBundleError('does not match the bundle schema', { cause: parsed.error });
      const address: DeviceAddress = { userId: parsed.data.userId, deviceId: parsed.data.deviceId };
      if (sameAddress(address, this.#ctx.address)) throw new InvalidBundleError('bundle of this very device');
      return { address, bundle: toSignalBundle(parsed.data) };
    });
    await this.#ctx.runCommitAlways(async (stores) => {
      const firstContact = new Set(bundles.map((b) => b.address.userId).filter((userId) => isFirstContact(stores.staged, userId)));
      const refused: DeviceAddress[] = [];
      for (const { address, bundle } of bundles) {
        const key = addressKey(address);
        const identityKey = bundle.identityKey();
        const known = readContactIdentity(stores.staged, key);
        // Always record the newest key, so a key that changes again while a change is pending is what
        // the user is shown (and has to acknowledge), not the one before it.
        const changed = (!known || !bytesEqual(known.keyBytes, identityKey.serialize()))
          && recordContactIdentity(stores.staged, address, identityKey, this.#ctx.clock, (e) => this.#ctx.emit(e), 'bundle', firstContact.has(address.userId));
        if (changed || readPendingChange(stores.staged, key)) {
          refused.push(address);
          continue;
        }
        try {
          await processPreKeyBundle(bundle, toProtocolAddress(address), this.#ctx.localAddress, stores.session, stores.identity, new Date(this.#ctx.clock.now()));
        } catch (error) {
          throw new InvalidBundleError('libsignal refused the bundle', { cause: error });
        }
      }
      for (const userId of firstContact) markDeviceListSeen(stores.staged, userId);
      const first = refused[0];
      if (first) throw new IdentityChangedError(first.userId, refused.filter((r) => r.userId === first.userId));
    });
  }

  /** Encrypts one plaintext for each device, as one atomic operation. */
  encrypt(recipients: readonly DeviceAddress[], plaintext: Uint8Array<ArrayBuffer>): Promise<OutgoingCiphertext[]> {
    return this.#ctx.run((stores) => this.encryptIn(stores, recipients, plaintext));
  }

  /** Refuses with IdentityChangedError if any recipient's identity change is not acknowledged yet. */
  assertTrusted(staged: StagedWrites, recipients: readonly DeviceAddress[]): void {
    const pending = pendingChangeKeys(staged);
    if (pending.length === 0) return;
    const blocked = recipients.filter((r) => pending.includes(addressKey(r)));
    const first = blocked[0];
    if (first) throw new IdentityChangedError(first.userId, blocked.filter((b) => b.userId === first.userId));
  }

  /**
   * Refuses with IdentityChangedError or NoSessionError before anything is encrypted for anyone. A
   * stored session that libsignal can no longer use is found by encryptIn (it is rare, and checking it
   * here would deserialize every session record once more per message).
   */
  assertSendable(staged: StagedWrites, recipients: readonly DeviceAddress[]): void {
    this.assertTrusted(staged, recipients);
    const missing = recipients.filter((recipient) => staged.get('session', addressKey(recipient)) === undefined);
    if (missing.length > 0) throw new NoSessionError(missing);
  }

  async encryptIn(stores: OperationStores, recipients: readonly DeviceAddress[], plaintext: Uint8Array<ArrayBuffer>): Promise<OutgoingCiphertext[]> {
    this.assertSendable(stores.staged, recipients);
    const now = new Date(this.#ctx.clock.now());
    const out: OutgoingCiphertext[] = [];
    for (const recipient of recipients) {
      const address = toProtocolAddress(recipient);
      let message;
      try {
        message = await signalEncrypt(plaintext, address, this.#ctx.localAddress, stores.session, stores.identity, now);
      } catch (error) {
        const unusable = recipients.filter((r) => !this.#usableSession(stores.staged, r, now));
        if (unusable.length > 0) throw new NoSessionError(unusable, { cause: error });
        if (error instanceof LibSignalErrorBase && error.code === ErrorCode.UntrustedIdentity) throw new IdentityChangedError(recipient.userId, [recipient], { cause: error });
        throw error;
      }
      out.push({
        recipient,
        type: message.type() === CiphertextMessageType.PreKey ? 'prekey' : 'whisper',
        content: message.serialize(),
      });
    }
    return out;
  }

  #usableSession(staged: StagedWrites, address: DeviceAddress, now: Date): boolean {
    const bytes = staged.get('session', addressKey(address));
    return bytes !== undefined && SessionRecord.deserialize(Uint8Array.from(bytes)).hasCurrentState(now);
  }

  /** Decrypts a `prekey` or `whisper` ciphertext inside an operation; errors are sorted by the caller. */
  async decryptIn(stores: OperationStores, type: 'prekey' | 'whisper', sender: DeviceAddress, content: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
    const from = toProtocolAddress(sender);
    if (type === 'prekey') {
      const message = PreKeySignalMessage.deserialize(content);
      return signalDecryptPreKey(message, from, this.#ctx.localAddress, stores.session, stores.identity, stores.preKey, stores.signedPreKey, stores.kyberPreKey);
    }
    return signalDecrypt(SignalMessage.deserialize(content), from, this.#ctx.localAddress, stores.session, stores.identity);
  }
}

/** Parses the bundle's keys and checks both prekey signatures against its identity key. */
function toSignalBundle(bundle: PreKeyBundle): SignalPreKeyBundle {
  let signalBundle: SignalPreKeyBundle;
  try {
    signalBundle = SignalPreKeyBundle.new(
      bundle.registrationId,
      bundle.deviceId,
      bundle.preKey?.keyId ?? null,
      bundle.preKey ? PublicKey.deserialize(fromBase64(bundle.preKey.publicKey)) : null,
      bundle.signedPreKey.keyId,
      PublicKey.deserialize(fromBase64(bundle.signedPreKey.publicKey)),
      fromBase64(bundle.signedPreKey.signature),
      PublicKey.deserialize(fromBase64(bundle.identityKey)),
      bundle.kyberPreKey.keyId,
      KEMPublicKey.deserialize(fromBase64(bundle.kyberPreKey.publicKey)),
      fromBase64(bundle.kyberPreKey.signature),
    );
  } catch (error) {
    throw new InvalidBundleError('a key in the bundle does not parse', { cause: error });
  }
  const identity = signalBundle.identityKey();
  if (!identity.verify(signalBundle.signedPreKeyPublic().serialize(), signalBundle.signedPreKeySignature())) {
    throw new InvalidBundleError('the signed prekey is not signed by the identity key');
  }
  if (!identity.verify(signalBundle.kyberPreKeyPublic().serialize(), signalBundle.kyberPreKeySignature())) {
    throw new InvalidBundleError('the Kyber prekey is not signed by the identity key');
  }
  return signalBundle;
}
