import { KEMPublicKey, PublicKey } from '@signalapp/libsignal-client';
import { describe, expect, it } from 'vitest';
import type { DeviceId } from '../../../shared/ids';
import type { KeyUpload } from '../../../shared/wire/keys';
import { newUserId } from '../../../test/fixtures/protocolHarness';
import { fromBase64 } from './encoding';
import { InMemoryProtocolStorage } from './InMemoryProtocolStorage';
import { ProtocolCore } from './ProtocolCore';

const DAY = 24 * 3600_000;

function allIds(uploads: readonly KeyUpload[]) {
  const ec = uploads.flatMap((u) => u.preKeys.map((k) => k.keyId));
  const kyber = uploads.flatMap((u) => [...u.kyberPreKeys.map((k) => k.keyId), ...(u.lastResortKyberPreKey ? [u.lastResortKyberPreKey.keyId] : [])]);
  const signed = uploads.flatMap((u) => (u.signedPreKey ? [u.signedPreKey.keyId] : []));
  return { ec, kyber, signed };
}

describe('KeyBundleGenerator', () => {
  it('first upload: one signed prekey, one last-resort Kyber key, 100 one-time keys of each kind, all signed', async () => {
    const core = ProtocolCore.createDevice(new InMemoryProtocolStorage(), { userId: newUserId(), deviceId: 1 as DeviceId });
    const upload = await core.keys.initialUpload();
    expect(upload.preKeys).toHaveLength(100);
    expect(upload.kyberPreKeys).toHaveLength(100);
    const identity = PublicKey.deserialize(fromBase64(upload.identityKey));
    const signed = upload.signedPreKey!;
    expect(identity.verify(fromBase64(signed.publicKey), fromBase64(signed.signature))).toBe(true);
    for (const kyber of [upload.lastResortKyberPreKey!, ...upload.kyberPreKeys.slice(0, 3)]) {
      expect(identity.verify(KEMPublicKey.deserialize(fromBase64(kyber.publicKey)).serialize(), fromBase64(kyber.signature))).toBe(true);
    }
  });

  it('never repeats an id, across batches, rotations and a reopen of the same storage', async () => {
    const storage = new InMemoryProtocolStorage();
    const address = { userId: newUserId(), deviceId: 3 as DeviceId };
    let now = 1_000_000;
    const clock = { now: () => now };
    const options = { clock, keyBundlePolicy: { batchSize: 10, replenishBelow: 5 } };
    const core = ProtocolCore.createDevice(storage, address, options);
    const uploads: KeyUpload[] = [await core.keys.initialUpload()];

    expect(await core.keys.replenish({ preKeys: 5, kyberPreKeys: 9 })).toBeNull();
    const ecOnly = (await core.keys.replenish({ preKeys: 4, kyberPreKeys: 5 }))!;
    expect([ecOnly.preKeys.length, ecOnly.kyberPreKeys.length]).toEqual([10, 0]);
    uploads.push(ecOnly);
    now += 3 * DAY;
    uploads.push(await core.keys.rotateSignedPreKeys());

    const reopened = ProtocolCore.open(storage, options);
    uploads.push((await reopened.keys.replenish({ preKeys: 0, kyberPreKeys: 0 }))!, await reopened.keys.rotateSignedPreKeys());

    const { ec, kyber, signed } = allIds(uploads);
    expect(ec).toHaveLength(30);
    expect(new Set(ec).size).toBe(ec.length);
    expect(new Set(kyber).size).toBe(kyber.length);
    expect(signed).toEqual([1, 2, 3]);
  });

  it('says when rotation is due and keeps a superseded key for the retention period after it was replaced', async () => {
    const storage = new InMemoryProtocolStorage();
    let now = 10 * DAY;
    const core = ProtocolCore.createDevice(storage, { userId: newUserId(), deviceId: 1 as DeviceId }, {
      clock: { now: () => now },
      keyBundlePolicy: { batchSize: 1, signedPreKeyRotationMs: 2 * DAY, supersededKeyRetentionMs: 30 * DAY },
    });
    const lastResortIds = () => storage.keys('kyberPreKey').filter((k) => storage.get('kyberPreKey', k)?.[0] === 2).map(Number);
    expect(core.keys.rotationDue()).toBe(true);
    await core.keys.initialUpload(); // signed #1 at day 10
    expect(core.keys.rotationDue()).toBe(false);
    now += 2 * DAY;
    expect(core.keys.rotationDue()).toBe(true);
    await core.keys.rotateSignedPreKeys(); // #2 at day 12: #1 superseded at day 12
    expect(core.keys.rotationDue()).toBe(false);
    expect(storage.keys('signedPreKey').map(Number)).toEqual([1, 2]);

    // The device was off for 31 days. Rotating now drops #1 (superseded 31 days ago) but keeps #2,
    // which was current until this very moment: first messages queued for it must still decrypt.
    now += 31 * DAY;
    await core.keys.rotateSignedPreKeys(); // #3 at day 43
    expect(storage.keys('signedPreKey').map(Number)).toEqual([2, 3]);
    expect(lastResortIds()).toHaveLength(2);
    now += 31 * DAY;
    await core.keys.rotateSignedPreKeys(); // #4 at day 74: #2 superseded at day 43, past retention
    expect(storage.keys('signedPreKey').map(Number)).toEqual([3, 4]);
    expect(lastResortIds()).toHaveLength(2);
  });

  it('rejects a policy that would make ids repeat or never rotate', () => {
    const storage = new InMemoryProtocolStorage();
    const address = { userId: newUserId(), deviceId: 1 as DeviceId };
    expect(() => ProtocolCore.createDevice(storage, address, { keyBundlePolicy: { batchSize: -5 } })).toThrow(RangeError);
    expect(() => ProtocolCore.createDevice(storage, address, { keyBundlePolicy: { batchSize: 1.5 } })).toThrow(RangeError);
    expect(() => ProtocolCore.createDevice(storage, address, { keyBundlePolicy: { signedPreKeyRotationMs: 0 } })).toThrow(RangeError);
  });
});
