import { KEMKeyPair, KyberPreKeyRecord, PreKeyRecord, PrivateKey, SignedPreKeyRecord } from '@signalapp/libsignal-client';
import type { KeyUpload, PreKeyCount, PublicPreKey, SignedKyberPublicPreKey, SignedPublicPreKey } from '../../../shared/wire/keys';
import { LIMITS } from '../../../shared/limits';
import { KeyIdsExhaustedError } from '../errors';
import { toBase64 } from './encoding';
import type { OperationStores, ProtocolContext } from './ProtocolContext';
import { KYBER_LAST_RESORT, KYBER_ONE_TIME, keyIdKey, storeKyberPreKey } from './signalStores';
import type { StagedWrites } from './StagedWrites';

export interface KeyBundlePolicy {
  /** One-time EC and Kyber prekeys generated per batch. */
  readonly batchSize: number;
  /** Replenish when the relay reports fewer unused one-time keys than this. */
  readonly replenishBelow: number;
  /** A new signed prekey and last-resort Kyber key are due after this long. */
  readonly signedPreKeyRotationMs: number;
  /** Superseded signed/last-resort keys are kept this long for first messages still in flight. */
  readonly supersededKeyRetentionMs: number;
}

export const DEFAULT_KEY_BUNDLE_POLICY: KeyBundlePolicy = {
  batchSize: 100,
  replenishBelow: 25,
  signedPreKeyRotationMs: 2 * 24 * 3600_000,
  supersededKeyRetentionMs: 30 * 24 * 3600_000,
};

const MAX_KEY_ID = 0x7fff_ffff;
type Counter = 'preKey' | 'kyberPreKey' | 'signedPreKey';

/**
 * Generates this device's prekeys. Private halves go to storage (never logged); the public halves are
 * returned as the shared KeyUpload wire type. Key ids come from persistent counters and never repeat.
 */
export class KeyBundleGenerator {
  readonly #ctx: ProtocolContext;
  readonly #policy: KeyBundlePolicy;

  constructor(ctx: ProtocolContext, policy: KeyBundlePolicy) {
    const { batchSize, replenishBelow, signedPreKeyRotationMs, supersededKeyRetentionMs } = policy;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > LIMITS.maxPreKeysPerUpload) throw new RangeError(`batchSize must be 1..${LIMITS.maxPreKeysPerUpload}`);
    if (!Number.isInteger(replenishBelow) || replenishBelow < 0) throw new RangeError('replenishBelow must be a whole number');
    if (!(signedPreKeyRotationMs > 0) || !(supersededKeyRetentionMs >= 0)) throw new RangeError('rotation and retention periods must be positive');
    this.#ctx = ctx;
    this.#policy = policy;
  }

  /** The first upload: signed prekey, last-resort Kyber key and one batch of each one-time kind. */
  initialUpload(): Promise<KeyUpload> {
    return this.#ctx.run(async (stores) => ({
      ...this.#identityPart(),
      signedPreKey: this.#newSignedPreKey(stores.staged),
      lastResortKyberPreKey: this.#newKyberPreKey(stores.staged, KYBER_LAST_RESORT),
      preKeys: this.#newPreKeys(stores.staged, this.#policy.batchSize),
      kyberPreKeys: this.#newKyberPreKeys(stores.staged, this.#policy.batchSize),
    }));
  }

  /** New one-time keys for whichever stock the relay reports below the threshold, or null if none is low. */
  replenish(count: PreKeyCount): Promise<KeyUpload | null> {
    const needEc = count.preKeys < this.#policy.replenishBelow;
    const needKyber = count.kyberPreKeys < this.#policy.replenishBelow;
    if (!needEc && !needKyber) return Promise.resolve(null);
    return this.#ctx.run(async (stores) => ({
      ...this.#identityPart(),
      preKeys: needEc ? this.#newPreKeys(stores.staged, this.#policy.batchSize) : [],
      kyberPreKeys: needKyber ? this.#newKyberPreKeys(stores.staged, this.#policy.batchSize) : [],
    }));
  }

  /** True when the newest signed prekey is older than the rotation period. */
  rotationDue(): boolean {
    const newest = this.#ctx.storage.keys('signedPreKey').at(-1);
    if (newest === undefined) return true;
    const bytes = this.#ctx.storage.get('signedPreKey', newest);
    if (!bytes) return true;
    return this.#ctx.clock.now() - SignedPreKeyRecord.deserialize(Uint8Array.from(bytes)).timestamp() >= this.#policy.signedPreKeyRotationMs;
  }

  /**
   * A new signed prekey and last-resort Kyber key. The superseded ones stay for the retention period so
   * first messages already in flight still decrypt; older ones are deleted here.
   */
  rotateSignedPreKeys(): Promise<KeyUpload> {
    return this.#ctx.run(async (stores) => {
      const upload: KeyUpload = {
        ...this.#identityPart(),
        signedPreKey: this.#newSignedPreKey(stores.staged),
        lastResortKyberPreKey: this.#newKyberPreKey(stores.staged, KYBER_LAST_RESORT),
        preKeys: [],
        kyberPreKeys: [],
      };
      this.#pruneSuperseded(stores);
      return upload;
    });
  }

  #identityPart(): Pick<KeyUpload, 'identityKey' | 'registrationId'> {
    return {
      identityKey: toBase64(this.#ctx.local.keyPair.publicKey.serialize()),
      registrationId: this.#ctx.local.registrationId,
    };
  }

  #newSignedPreKey(staged: StagedWrites): SignedPublicPreKey {
    const id = nextId(staged, 'signedPreKey', 1);
    const privateKey = PrivateKey.generate();
    const publicKey = privateKey.getPublicKey();
    const signature = this.#ctx.local.keyPair.privateKey.sign(publicKey.serialize());
    const record = SignedPreKeyRecord.new(id, this.#ctx.clock.now(), publicKey, privateKey, signature);
    staged.put('signedPreKey', keyIdKey(id), record.serialize());
    return { keyId: id, publicKey: toBase64(publicKey.serialize()), signature: toBase64(signature) };
  }

  #newPreKeys(staged: StagedWrites, count: number): PublicPreKey[] {
    const first = nextId(staged, 'preKey', count);
    return Array.from({ length: count }, (_, i) => {
      const privateKey = PrivateKey.generate();
      const record = PreKeyRecord.new(first + i, privateKey.getPublicKey(), privateKey);
      staged.put('preKey', keyIdKey(first + i), record.serialize());
      return { keyId: first + i, publicKey: toBase64(privateKey.getPublicKey().serialize()) };
    });
  }

  #newKyberPreKeys(staged: StagedWrites, count: number): SignedKyberPublicPreKey[] {
    return Array.from({ length: count }, () => this.#newKyberPreKey(staged, KYBER_ONE_TIME));
  }

  #newKyberPreKey(staged: StagedWrites, kind: number): SignedKyberPublicPreKey {
    const id = nextId(staged, 'kyberPreKey', 1);
    const keyPair = KEMKeyPair.generate();
    const publicKey = keyPair.getPublicKey().serialize();
    const signature = this.#ctx.local.keyPair.privateKey.sign(publicKey);
    storeKyberPreKey(staged, KyberPreKeyRecord.new(id, this.#ctx.clock.now(), keyPair, signature), kind);
    return { keyId: id, publicKey: toBase64(publicKey), signature: toBase64(signature) };
  }

  /**
   * Deletes superseded signed and last-resort keys once they have been superseded for longer than the
   * retention period. A key's supersession time is its successor's creation time (not its own creation
   * time: a device offline for weeks must not drop the key that first messages queued for it still use).
   */
  #pruneSuperseded(stores: OperationStores): void {
    const cutoff = this.#ctx.clock.now() - this.#policy.supersededKeyRetentionMs;
    const { staged } = stores;
    const signed = staged.keys('signedPreKey').flatMap((key) => {
      const bytes = staged.get('signedPreKey', key);
      return bytes ? [{ key, created: SignedPreKeyRecord.deserialize(bytes).timestamp() }] : [];
    });
    const lastResort = staged.keys('kyberPreKey').flatMap((key) => {
      const bytes = staged.get('kyberPreKey', key);
      return bytes?.[0] === KYBER_LAST_RESORT ? [{ key, created: KyberPreKeyRecord.deserialize(bytes.slice(1)).timestamp() }] : [];
    });
    for (const entry of supersededBefore(signed, cutoff)) staged.delete('signedPreKey', entry.key);
    for (const entry of supersededBefore(lastResort, cutoff)) {
      staged.delete('kyberPreKey', entry.key);
      // The replay guard's records for that key go with it.
      for (const used of staged.keys('kyberBaseKeyUsed', `${entry.key}:`)) staged.delete('kyberBaseKeyUsed', used);
    }
  }
}

/** Keys (in id order) whose successor was created before `cutoff`; the newest key is never among them. */
function supersededBefore<T extends { created: number }>(keys: readonly T[], cutoff: number): T[] {
  return keys.filter((_, i) => {
    const successor = keys[i + 1];
    return successor !== undefined && successor.created < cutoff;
  });
}

/** Reserves `count` consecutive ids from a persistent counter. */
function nextId(staged: StagedWrites, counter: Counter, count: number): number {
  const stored = staged.get('counter', counter);
  const next = stored ? new DataView(stored.buffer, stored.byteOffset, 4).getUint32(0) : 1;
  if (next + count - 1 > MAX_KEY_ID) throw new KeyIdsExhaustedError(counter);
  const value = new Uint8Array(4);
  new DataView(value.buffer).setUint32(0, next + count);
  staged.put('counter', counter, value);
  return next;
}
