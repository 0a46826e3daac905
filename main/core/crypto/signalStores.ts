import {
  KyberPreKeyRecord,
  KyberPreKeyStore,
  PreKeyRecord,
  PreKeyStore,
  type ProtocolAddress,
  type PublicKey,
  SenderKeyRecord,
  SenderKeyStore,
  SessionRecord,
  SessionStore,
  SignedPreKeyRecord,
  SignedPreKeyStore,
  type Uuid,
} from '@signalapp/libsignal-client';
import { DuplicateMessageError, InvalidMessageError } from '../errors';
import { toBase64 } from './encoding';
import type { StagedWrites } from './StagedWrites';

/*
 * libsignal's store interfaces, implemented over one operation's StagedWrites. These hold private key
 * material: nothing here may be logged.
 */

/** Reading name and device id crosses into native code; the same address objects recur, so remember. */
const addressKeys = new WeakMap<ProtocolAddress, string>();

export function protocolAddressKey(address: ProtocolAddress): string {
  let key = addressKeys.get(address);
  if (key === undefined) {
    key = `${address.name()}.${address.deviceId()}`;
    addressKeys.set(address, key);
  }
  return key;
}

export class SessionStoreAdapter extends SessionStore {
  constructor(private readonly staged: StagedWrites) {
    super();
  }
  override async saveSession(address: ProtocolAddress, record: SessionRecord): Promise<void> {
    this.staged.put('session', protocolAddressKey(address), record.serialize());
  }
  override async getSession(address: ProtocolAddress): Promise<SessionRecord | null> {
    const bytes = this.staged.get('session', protocolAddressKey(address));
    return bytes ? SessionRecord.deserialize(bytes) : null;
  }
  override async getExistingSessions(addresses: ProtocolAddress[]): Promise<SessionRecord[]> {
    return addresses.map((address) => {
      const bytes = this.staged.get('session', protocolAddressKey(address));
      if (!bytes) throw this.staged.noteStoreError(new InvalidMessageError(`no session for ${protocolAddressKey(address)}`));
      return SessionRecord.deserialize(bytes);
    });
  }
}

export class PreKeyStoreAdapter extends PreKeyStore {
  constructor(private readonly staged: StagedWrites) {
    super();
  }
  override async savePreKey(id: number, record: PreKeyRecord): Promise<void> {
    this.staged.put('preKey', keyIdKey(id), record.serialize());
  }
  override async getPreKey(id: number): Promise<PreKeyRecord> {
    const bytes = this.staged.get('preKey', keyIdKey(id));
    if (!bytes) throw this.staged.noteStoreError(new InvalidMessageError(`one-time prekey ${id} is unknown or already used`));
    return PreKeyRecord.deserialize(bytes);
  }
  override async removePreKey(id: number): Promise<void> {
    this.staged.delete('preKey', keyIdKey(id));
  }
}

export class SignedPreKeyStoreAdapter extends SignedPreKeyStore {
  constructor(private readonly staged: StagedWrites) {
    super();
  }
  override async saveSignedPreKey(id: number, record: SignedPreKeyRecord): Promise<void> {
    this.staged.put('signedPreKey', keyIdKey(id), record.serialize());
  }
  override async getSignedPreKey(id: number): Promise<SignedPreKeyRecord> {
    const bytes = this.staged.get('signedPreKey', keyIdKey(id));
    if (!bytes) throw this.staged.noteStoreError(new InvalidMessageError(`signed prekey ${id} is unknown or expired`));
    return SignedPreKeyRecord.deserialize(bytes);
  }
}

/** First byte of a stored Kyber prekey: whether it is one-time (deleted on use) or the last-resort key. */
export const KYBER_ONE_TIME = 1;
export const KYBER_LAST_RESORT = 2;

export class KyberPreKeyStoreAdapter extends KyberPreKeyStore {
  constructor(private readonly staged: StagedWrites) {
    super();
  }
  override async saveKyberPreKey(id: number, record: KyberPreKeyRecord): Promise<void> {
    // libsignal itself never calls this; our generator stores keys with storeKyberPreKey().
    storeKyberPreKey(this.staged, record, KYBER_ONE_TIME);
  }
  override async getKyberPreKey(id: number): Promise<KyberPreKeyRecord> {
    const stored = this.staged.get('kyberPreKey', keyIdKey(id));
    if (!stored) throw this.staged.noteStoreError(new InvalidMessageError(`Kyber prekey ${id} is unknown or already used`));
    return KyberPreKeyRecord.deserialize(stored.slice(1));
  }
  override async markKyberPreKeyUsed(id: number, signedPreKeyId: number, baseKey: PublicKey): Promise<void> {
    const stored = this.staged.get('kyberPreKey', keyIdKey(id));
    if (!stored) return;
    if (stored[0] === KYBER_ONE_TIME) {
      this.staged.delete('kyberPreKey', keyIdKey(id));
      return;
    }
    // The last-resort key is reused by design; a base key seen twice with it is a replayed first message.
    const useKey = `${keyIdKey(id)}:${keyIdKey(signedPreKeyId)}:${toBase64(baseKey.serialize())}`;
    if (this.staged.get('kyberBaseKeyUsed', useKey)) {
      throw this.staged.noteStoreError(new DuplicateMessageError('first message replayed against the last-resort Kyber prekey'));
    }
    this.staged.put('kyberBaseKeyUsed', useKey, new Uint8Array([1]));
  }
}

export function storeKyberPreKey(staged: StagedWrites, record: KyberPreKeyRecord, kind: number): void {
  const serialized = record.serialize();
  const value = new Uint8Array(serialized.byteLength + 1);
  value[0] = kind;
  value.set(serialized, 1);
  staged.put('kyberPreKey', keyIdKey(record.id()), value);
}

export class SenderKeyStoreAdapter extends SenderKeyStore {
  constructor(private readonly staged: StagedWrites) {
    super();
  }
  override async saveSenderKey(sender: ProtocolAddress, distributionId: Uuid, record: SenderKeyRecord): Promise<void> {
    this.staged.put('senderKey', senderKeyKey(sender, distributionId), record.serialize());
  }
  override async getSenderKey(sender: ProtocolAddress, distributionId: Uuid): Promise<SenderKeyRecord | null> {
    const bytes = this.staged.get('senderKey', senderKeyKey(sender, distributionId));
    return bytes ? SenderKeyRecord.deserialize(bytes) : null;
  }
}

export function senderKeyKey(sender: ProtocolAddress, distributionId: Uuid): string {
  return `${protocolAddressKey(sender)}/${String(distributionId)}`;
}

/** Key ids are stored zero-padded so that `keys()` lists them in numeric order. */
export function keyIdKey(id: number): string {
  return id.toString().padStart(10, '0');
}
