/**
 * The baseline: libsignal's stores in their barest form (maps of serialized records, trust everything),
 * as in shared/BASELINES.md. Only the benchmark uses this, to measure our layer's own overhead.
 */
import {
  type Direction,
  IdentityChange,
  IdentityKeyPair,
  IdentityKeyStore,
  KEMKeyPair,
  KyberPreKeyRecord,
  KyberPreKeyStore,
  PreKeyRecord,
  PreKeyStore,
  type PrivateKey,
  PrivateKey as EcPrivateKey,
  type ProtocolAddress,
  PublicKey,
  SenderKeyRecord,
  SenderKeyStore,
  SessionRecord,
  SessionStore,
  SignedPreKeyRecord,
  SignedPreKeyStore,
  type Uuid,
} from '@signalapp/libsignal-client';

type Records = Map<string, Uint8Array<ArrayBuffer>>;

class BareSessionStore extends SessionStore {
  constructor(private readonly records: Records) { super(); }
  async saveSession(a: ProtocolAddress, r: SessionRecord) { this.records.set(a.toString(), r.serialize()); }
  async getSession(a: ProtocolAddress) { const b = this.records.get(a.toString()); return b ? SessionRecord.deserialize(b) : null; }
  async getExistingSessions(as: ProtocolAddress[]) { return as.map((a) => SessionRecord.deserialize(this.records.get(a.toString())!)); }
}

class BareIdentityStore extends IdentityKeyStore {
  constructor(private readonly records: Records, private readonly keyPair: IdentityKeyPair, private readonly registrationId: number) { super(); }
  async getIdentityKey(): Promise<PrivateKey> { return this.keyPair.privateKey; }
  async getLocalRegistrationId() { return this.registrationId; }
  async saveIdentity(a: ProtocolAddress, k: PublicKey) { this.records.set(a.toString(), k.serialize()); return IdentityChange.NewOrUnchanged; }
  async isTrustedIdentity(_a: ProtocolAddress, _k: PublicKey, _d: Direction) { return true; }
  async getIdentity(a: ProtocolAddress) { const b = this.records.get(a.toString()); return b ? PublicKey.deserialize(b) : null; }
}

class BarePreKeyStore extends PreKeyStore {
  constructor(private readonly records: Records) { super(); }
  async savePreKey(id: number, r: PreKeyRecord) { this.records.set(String(id), r.serialize()); }
  async getPreKey(id: number) { return PreKeyRecord.deserialize(this.records.get(String(id))!); }
  async removePreKey(id: number) { this.records.delete(String(id)); }
}

class BareSignedPreKeyStore extends SignedPreKeyStore {
  constructor(private readonly records: Records) { super(); }
  async saveSignedPreKey(id: number, r: SignedPreKeyRecord) { this.records.set(String(id), r.serialize()); }
  async getSignedPreKey(id: number) { return SignedPreKeyRecord.deserialize(this.records.get(String(id))!); }
}

class BareKyberPreKeyStore extends KyberPreKeyStore {
  constructor(private readonly records: Records) { super(); }
  async saveKyberPreKey(id: number, r: KyberPreKeyRecord) { this.records.set(String(id), r.serialize()); }
  async getKyberPreKey(id: number) { return KyberPreKeyRecord.deserialize(this.records.get(String(id))!); }
  async markKyberPreKeyUsed(id: number) { this.records.delete(String(id)); }
}

class BareSenderKeyStore extends SenderKeyStore {
  constructor(private readonly records: Records) { super(); }
  async saveSenderKey(a: ProtocolAddress, d: Uuid, r: SenderKeyRecord) { this.records.set(`${a.toString()}/${d}`, r.serialize()); }
  async getSenderKey(a: ProtocolAddress, d: Uuid) { const b = this.records.get(`${a.toString()}/${d}`); return b ? SenderKeyRecord.deserialize(b) : null; }
}

export class BareStores {
  readonly identityKeyPair = IdentityKeyPair.generate();
  readonly registrationId = 1 + Math.floor(Math.random() * 16000);
  readonly session = new BareSessionStore(new Map());
  readonly identity = new BareIdentityStore(new Map(), this.identityKeyPair, this.registrationId);
  readonly preKey = new BarePreKeyStore(new Map());
  readonly signedPreKey = new BareSignedPreKeyStore(new Map());
  readonly kyberPreKey = new BareKyberPreKeyStore(new Map());
  readonly senderKey = new BareSenderKeyStore(new Map());

  /** Generates a signed prekey and `count` one-time EC and Kyber prekeys from `firstId`, stored here. */
  generatePreKeys(firstId: number, count: number): { signedId: number; signed: SignedPreKeyRecord; kyber: KyberPreKeyRecord[]; ec: PreKeyRecord[] } {
    const signingKey = this.identityKeyPair.privateKey;
    const spk = EcPrivateKey.generate();
    const signed = SignedPreKeyRecord.new(1, Date.now(), spk.getPublicKey(), spk, signingKey.sign(spk.getPublicKey().serialize()));
    void this.signedPreKey.saveSignedPreKey(1, signed);
    const ec: PreKeyRecord[] = [];
    const kyber: KyberPreKeyRecord[] = [];
    for (let i = 0; i < count; i++) {
      const k = EcPrivateKey.generate();
      const record = PreKeyRecord.new(firstId + i, k.getPublicKey(), k);
      void this.preKey.savePreKey(firstId + i, record);
      ec.push(record);
      const pair = KEMKeyPair.generate();
      const krecord = KyberPreKeyRecord.new(firstId + i, Date.now(), pair, signingKey.sign(pair.getPublicKey().serialize()));
      void this.kyberPreKey.saveKyberPreKey(firstId + i, krecord);
      kyber.push(krecord);
    }
    return { signedId: 1, signed, kyber, ec };
  }
}
