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
import type { EnvelopeType } from '../../../shared/wire/envelope';
import { IdentityChangedError, InvalidBundleError, NoSessionError } from '../errors';
import { bytesEqual, fromBase64 } from './encoding';
import { pendingChangeKeys, readContactIdentity, readPendingChange, recordContactIdentity } from './IdentityStore';
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
   * Starts a session from a bundle the relay handed out (validated here: it is outside input). A bundle
   * whose identity key differs from the one we know records an identity change and is refused with
   * IdentityChangedError until the user acknowledges it.
   */
  async startSession(input: unknown): Promise<void> {
    const parsed = PreKeyBundleSchema.safeParse(input);
    if (!parsed.success) throw new InvalidBundleError('does not match the bundle schema', { cause: parsed.error });
    const bundle = parsed.data;
    const address: DeviceAddress = { userId: bundle.userId, deviceId: bundle.deviceId };
    if (sameAddress(address, this.#ctx.local.address)) throw new InvalidBundleError('bundle of this very device');
    const signalBundle = toSignalBundle(bundle);
    return this.#ctx.runCommitAlways(async (stores) => {
      const known = readContactIdentity(stores.staged, addressKey(address));
      if (readPendingChange(stores.staged, addressKey(address))) throw new IdentityChangedError(address.userId, [address]);
      const identityKey = signalBundle.identityKey();
      if (known && !bytesEqual(known.keyBytes, identityKey.serialize())) {
        recordContactIdentity(stores.staged, address, identityKey, this.#ctx.clock, (e) => this.#ctx.emit(e), 'bundle');
        throw new IdentityChangedError(address.userId, [address]);
      }
      try {
        await processPreKeyBundle(signalBundle, toProtocolAddress(address), this.#ctx.localAddress, stores.session, stores.identity, new Date(this.#ctx.clock.now()));
      } catch (error) {
        throw new InvalidBundleError('signature or key check failed', { cause: error });
      }
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

function toSignalBundle(bundle: PreKeyBundle): SignalPreKeyBundle {
  try {
    return SignalPreKeyBundle.new(
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
}
