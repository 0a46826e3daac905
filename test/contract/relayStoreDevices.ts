/** The RelayStore contract (relayStoreContract.ts): devices, their keys and bundles, and the control events of revocations. */
import { expect, it } from 'vitest';
import { sha256Hex } from '../../server/auth/secrets';
import type { AuditEvent } from '../../server/audit/AuditRecord';
import { DeviceIdSchema, MAX_DEVICE_ID, type DeviceId, type UserId } from '../../shared/ids';
import type { KeyUpload } from '../../shared/wire/keys';
import { HOUR, NOW, audited, expectFailure, follower, keyUpload, settled, type ContractStores } from './relayStoreStores';

const event = (type: AuditEvent['type'], subject: string): AuditEvent => ({ type, actor: 'contract', subject, details: {} });
const byKeyId = <K extends { keyId: number }>(keys: readonly K[]): K[] => [...keys].sort((a, b) => a.keyId - b.keyId);
const ids = (...n: number[]): DeviceId[] => n.map((i) => DeviceIdSchema.parse(i));

export function relayStoreDevices(t: ContractStores): void {
  /** The test's keys without one-time keys: cheap to store many times. */
  const bare = (): KeyUpload => ({ ...t.keys, preKeys: [], kyberPreKeys: [] });

  it('reads a device back as it was added, and an account\'s devices in id order', async () => {
    const { store, other } = t;
    const alice = await t.account();
    await store.addDevice(alice.userId, t.newDevice({ name: 'laptop', expiresAt: NOW + HOUR }), NOW + 1, []);
    expect(await other.device(alice.userId, alice.deviceId)).toEqual({
      userId: alice.userId, deviceId: 1, name: 'ws', credentialHash: sha256Hex('credential-1'), createdAt: NOW, lastSeenAt: NOW, expiresAt: null, revokedAt: null,
    });
    expect((await other.devices(alice.userId)).map((d) => [d.deviceId, d.name, d.expiresAt, d.createdAt])).toEqual([[1, 'ws', null, NOW], [2, 'laptop', NOW + HOUR, NOW + 1]]);
    expect(await store.device(alice.userId, DeviceIdSchema.parse(3))).toBeUndefined();
    expect(await store.devices((await t.user()))).toEqual([]);
  });

  it('keeps whatever name a client gives its device, NUL and lone surrogates as U+FFFD', async () => {
    const alice = await t.account();
    const name = 'ward 4 \u0000 é 😀 \uD800 "x"';
    const id = await t.store.addDevice(alice.userId, t.newDevice({ keys: bare(), name }), NOW, []);
    expect((await t.other.device(alice.userId, id))?.name).toBe('ward 4 \uFFFD é 😀 \uFFFD "x"');
  });

  it('gives a new device a fresh id while there is one, then the lowest id of a revoked device, and no more than the limit', async () => {
    const { store, other } = t;
    const alice = await t.account();
    const add = (on = store) => on.addDevice(alice.userId, t.newDevice({ keys: bare() }), NOW, []);
    expect([await add(), await add(other)]).toEqual(ids(2, 3));
    await store.revokeDevice(alice.userId, DeviceIdSchema.parse(2), NOW, []);
    // A revoked device's id is not given again while a fresh one is left: it could be taken for its former device.
    expect(await add(other)).toBe(4);
    for (let i = 5; i <= MAX_DEVICE_ID; i++) await add(t.either(i));
    await other.revokeDevice(alice.userId, DeviceIdSchema.parse(100), NOW, []);
    expect([await add(other), await add()]).toEqual(ids(2, 100));
    expect(await other.device(alice.userId, DeviceIdSchema.parse(2))).toMatchObject({ revokedAt: null, credentialHash: sha256Hex('credential-2') });
    await expectFailure(add(), 'TOO_MANY_DEVICES');
  });

  it('gives devices added at once for one account distinct ids, through both instances, each named in the log', async () => {
    const { store, other } = t;
    const alice = await t.account();
    const added = await Promise.all(Array.from({ length: 8 }, (_, i) => t.either(i).addDevice(alice.userId, t.newDevice({ keys: bare() }), NOW, [event('device.enrolled', alice.userId)])));
    expect([...added].sort((a, b) => a - b)).toEqual(ids(2, 3, 4, 5, 6, 7, 8, 9));
    expect((await other.devices(alice.userId)).map((d) => d.deviceId)).toEqual(ids(1, 2, 3, 4, 5, 6, 7, 8, 9));
    expect((await t.audit('device.enrolled')).map(([, subject]) => subject).sort()).toEqual(added.map((id) => `${alice.userId}.${id}`).sort());
    // A first upload without its signed prekey or last-resort Kyber key adds nothing.
    await expectFailure(store.addDevice(alice.userId, t.newDevice({ keys: { ...bare(), lastResortKyberPreKey: undefined } }), NOW, []), 'BAD_REQUEST');
    expect(await store.devices(alice.userId)).toHaveLength(9);
  });

  it('lists the active devices of active accounts: none revoked, none past its time, none of an account deactivated or not yet enrolled', async () => {
    const { store, other } = t;
    const [alice, bob, dave] = [await t.account(), await t.account(), await t.account()];
    const emergency = await store.addDevice(alice.userId, t.newDevice({ keys: bare(), expiresAt: NOW + HOUR }), NOW, []);
    const revoked = await other.addDevice(alice.userId, t.newDevice({ keys: bare() }), NOW, []);
    await store.revokeDevice(alice.userId, revoked, NOW, []);
    const pending = await t.user({ status: 'pending' });
    await store.addDevice(pending, t.newDevice({ keys: bare() }), NOW, []);
    await other.deactivateUser(dave.userId, NOW, []);
    expect(Object.fromEntries(await other.activeDevicesByUser(NOW))).toEqual({ [alice.userId]: [1, emergency], [bob.userId]: [1] });
    expect(Object.fromEntries(await store.activeDevicesByUser(NOW + HOUR))).toEqual({ [alice.userId]: [1], [bob.userId]: [1] });
    // One account's, read alone (what a send checks its recipients against), with when each stops.
    expect(await store.activeDevices(alice.userId, NOW)).toEqual([{ deviceId: 1, expiresAt: null }, { deviceId: emergency, expiresAt: NOW + HOUR }]);
    expect(await other.activeDevices(alice.userId, NOW + HOUR)).toEqual([{ deviceId: 1, expiresAt: null }]);
    expect([await store.activeDevices(dave.userId, NOW), await other.activeDevices(pending, NOW), await store.activeDevices(await t.user(), NOW)]).toEqual([[], [], []]);
  });

  it('replaces the credential of an active device only, with its audit record', async () => {
    const { store, other } = t;
    const alice = await t.account();
    const second = await store.addDevice(alice.userId, t.newDevice({ keys: bare() }), NOW, []);
    await other.replaceCredential(alice.userId, alice.deviceId, sha256Hex('renewed'), [event('login.success', `${alice.userId}.1`)]);
    expect((await store.device(alice.userId, alice.deviceId))?.credentialHash).toBe(sha256Hex('renewed'));
    await store.revokeDevice(alice.userId, second, NOW, []);
    await other.replaceCredential(alice.userId, second, sha256Hex('revived'), []);
    expect((await store.device(alice.userId, second))?.credentialHash).toBe(sha256Hex(`credential-${second}`));
    expect(await t.audit('login.success')).toEqual([['login.success', `${alice.userId}.1`]]);
  });

  it('moves a device\'s last sighting and its account\'s last activity forward with each touch, never back', async () => {
    const { store, other } = t;
    const alice = await t.account();
    const second = await store.addDevice(alice.userId, t.newDevice({ keys: bare() }), NOW, []);
    // Each resolves once written (touches are group-committed, so several share a write).
    await Promise.all([store.touchDevice(alice.userId, alice.deviceId, NOW + 5000), other.touchDevice(alice.userId, second, NOW + 3000)]);
    const seen = async () => [...(await t.either(1).devices(alice.userId)).map((d) => d.lastSeenAt), (await store.userById(alice.userId))?.lastActiveAt];
    expect(await seen()).toEqual([NOW + 5000, NOW + 3000, NOW + 5000]);
    // A late touch (another instance's, written after a newer one) moves nothing back.
    await Promise.all([other.touchDevice(alice.userId, alice.deviceId, NOW + 1000), store.touchDevice(alice.userId, second, NOW + 4000)]);
    expect(await seen()).toEqual([NOW + 5000, NOW + 4000, NOW + 5000]);
  });

  it('stores more keys only under the identity the device registered, and counts what it holds', async () => {
    const { store, other } = t;
    const alice = await t.account();
    const stranger = await keyUpload(2);
    await expectFailure(store.storeKeys(alice.userId, alice.deviceId, stranger, []), 'BAD_REQUEST');
    expect(await other.keyCount(alice.userId, alice.deviceId)).toEqual({ preKeys: 5, kyberPreKeys: 5 });
    // The same keys again (a retried upload) are held once.
    expect(await other.storeKeys(alice.userId, alice.deviceId, t.keys, [])).toEqual({ preKeys: 5, kyberPreKeys: 5 });
    const more: KeyUpload = {
      identityKey: t.keys.identityKey, registrationId: t.keys.registrationId, signedPreKey: stranger.signedPreKey,
      preKeys: stranger.preKeys.map((k, i) => ({ ...k, keyId: 1000 + i })), kyberPreKeys: stranger.kyberPreKeys.map((k, i) => ({ ...k, keyId: 2000 + i })),
    };
    expect(await other.storeKeys(alice.userId, alice.deviceId, more, [event('keys.uploaded', `${alice.userId}.1`)])).toEqual({ preKeys: 7, kyberPreKeys: 7 });
    expect(await store.keyCount(alice.userId, alice.deviceId)).toEqual({ preKeys: 7, kyberPreKeys: 7 });
    // The new signed prekey is the one handed out from now on.
    const [bundle] = await store.takeBundles(alice.userId, alice.deviceId, audited('bundle.fetched'));
    expect(bundle).toMatchObject({ identityKey: t.keys.identityKey, signedPreKey: stranger.signedPreKey });
    expect(await t.audit('keys.uploaded')).toEqual([['keys.uploaded', `${alice.userId}.1`]]);
    // A key id listed twice in one upload is held once: the last listed.
    const listedTwice: KeyUpload = { ...t.keys, preKeys: [{ ...more.preKeys[0]!, keyId: 7 }, { ...more.preKeys[1]!, keyId: 7 }], kyberPreKeys: [{ ...more.kyberPreKeys[0]!, keyId: 7 }, { ...more.kyberPreKeys[1]!, keyId: 7 }] };
    const twice = await other.addDevice(alice.userId, t.newDevice({ keys: listedTwice }), NOW, []);
    expect(await store.storeKeys(alice.userId, twice, listedTwice, [])).toEqual({ preKeys: 1, kyberPreKeys: 1 });
    const [fetched] = await store.takeBundles(alice.userId, twice, audited('bundle.fetched'));
    expect([fetched?.preKey, fetched?.kyberPreKey]).toEqual([listedTwice.preKeys[1], listedTwice.kyberPreKeys[1]]);
    await store.revokeDevice(alice.userId, alice.deviceId, NOW, []);
    await expectFailure(other.storeKeys(alice.userId, alice.deviceId, more, []), 'UNKNOWN_DEVICE');
    await expectFailure(other.storeKeys(alice.userId, DeviceIdSchema.parse(9), more, []), 'UNKNOWN_DEVICE');
  });

  it('hands out bundles for one device or all, the lowest one-time keys first, then the last-resort Kyber key', async () => {
    const { store, other } = t;
    const two: KeyUpload = { ...t.keys, preKeys: byKeyId(t.keys.preKeys).slice(3), kyberPreKeys: byKeyId(t.keys.kyberPreKeys).slice(3) };
    const bob = await t.account('bob', two);
    const second = await store.addDevice(bob.userId, t.newDevice(), NOW, []);
    const fetched = audited('bundle.fetched');
    const all = await other.takeBundles(bob.userId, undefined, fetched);
    expect(all.map((b) => b.deviceId)).toEqual([1, second]);
    expect(all[0]).toEqual({
      userId: bob.userId, deviceId: 1, registrationId: t.keys.registrationId, identityKey: t.keys.identityKey, signedPreKey: t.keys.signedPreKey,
      preKey: byKeyId(two.preKeys)[0], kyberPreKey: byKeyId(two.kyberPreKeys)[0],
    });
    expect((await store.takeBundles(bob.userId, DeviceIdSchema.parse(1), fetched)).map((b) => [b.deviceId, b.preKey, b.kyberPreKey])).toEqual([[1, byKeyId(two.preKeys)[1], byKeyId(two.kyberPreKeys)[1]]]);
    // Out of one-time keys: no EC one-time key, and the last-resort Kyber key, as often as asked.
    for (const on of [store, other]) {
      const [last] = await on.takeBundles(bob.userId, DeviceIdSchema.parse(1), fetched);
      expect([last?.preKey, last?.kyberPreKey]).toEqual([undefined, t.keys.lastResortKyberPreKey]);
    }
    expect([await store.keyCount(bob.userId, DeviceIdSchema.parse(1)), await store.keyCount(bob.userId, second)]).toEqual([{ preKeys: 0, kyberPreKeys: 0 }, { preKeys: 4, kyberPreKeys: 4 }]);
    expect(await t.audit('bundle.fetched')).toHaveLength(5);
    expect(await store.takeBundles(bob.userId, DeviceIdSchema.parse(9), fetched)).toEqual([]);
  });

  it('hands out no bundle for a revoked device, one past its time, or an account not active', async () => {
    const { store, other } = t;
    const bob = await t.account();
    const revoked = await store.addDevice(bob.userId, t.newDevice({ keys: bare() }), NOW, []);
    await other.revokeDevice(bob.userId, revoked, NOW, []);
    // Bundles are for devices unexpired by the store's own clock.
    const expired = await store.addDevice(bob.userId, t.newDevice({ keys: bare(), expiresAt: Date.now() - 1000 }), NOW, []);
    const emergency = await store.addDevice(bob.userId, t.newDevice({ keys: bare(), expiresAt: Date.now() + HOUR }), NOW, []);
    expect((await other.takeBundles(bob.userId, undefined, audited('bundle.fetched'))).map((b) => b.deviceId)).toEqual([1, emergency]);
    for (const gone of [revoked, expired]) expect(await store.takeBundles(bob.userId, gone, audited('bundle.fetched'))).toEqual([]);
    const pending = await t.user({ status: 'pending' });
    await store.addDevice(pending, t.newDevice(), NOW, []);
    await store.updateUser(bob.userId, { status: 'deactivated' }, []);
    for (const userId of [pending, bob.userId]) expect(await other.takeBundles(userId, undefined, audited('bundle.fetched'))).toEqual([]);
    expect(await t.audit('bundle.fetched')).toHaveLength(2);
  });

  it('hands each one-time prekey to one fetcher only, however many fetch at once', async () => {
    const { store } = t;
    const bob = await t.account('bob');
    const bundles = (await Promise.all(Array.from({ length: 12 }, (_, i) => t.either(i).takeBundles(bob.userId, undefined, audited('bundle.fetched'))))).flat();
    const handedOut = bundles.flatMap((b) => (b.preKey ? [b.preKey.keyId] : []));
    // Each of the five to one fetcher, none twice, none kept back while fetchers went without.
    expect(new Set(handedOut).size).toBe(handedOut.length);
    expect(handedOut).toHaveLength(5);
    // Past the stock every fetcher still gets the signed prekey and the last-resort Kyber key.
    expect(bundles).toHaveLength(12);
    expect(bundles.every((b) => b.signedPreKey && b.kyberPreKey)).toBe(true);
    expect(await store.keyCount(bob.userId, bob.deviceId)).toMatchObject({ preKeys: 0 });
  });

  it('records each device added, credential replaced, revocation and deactivation as a control event, in order, seen by every instance and paged by seq', async () => {
    const { store, other } = t;
    const [alice, bob] = [await t.account(), await t.account()];
    const second = await store.addDevice(alice.userId, t.newDevice({ keys: bare() }), NOW, []);
    await other.replaceCredential(alice.userId, second, sha256Hex('renewed'), []);
    await store.revokeDevice(alice.userId, second, NOW, [event('device.revoked', `${alice.userId}.${second}`)]);
    await other.deactivateUser(bob.userId, NOW, []);
    await store.revokeDevice(alice.userId, alice.deviceId, NOW, []);
    const events = await other.controlEvents(0);
    expect(events.map((e) => [e.kind, e.userId, e.deviceId])).toEqual([
      ['device.added', alice.userId, 1], ['device.added', bob.userId, 1], ['device.added', alice.userId, second], ['credential.replaced', alice.userId, second],
      ['device.revoked', alice.userId, second], ['account.deactivated', bob.userId, null], ['device.revoked', alice.userId, 1],
    ]);
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => a - b));
    expect(await store.controlEvents(events[0]!.seq)).toEqual(events.slice(1));
    expect(await store.controlEvents(events.at(-1)!.seq)).toEqual([]);
    expect(await t.audit('device.revoked')).toEqual([['device.revoked', `${alice.userId}.${second}`]]);
  });

  it('prunes control events recorded before a time on either instance, and hands out higher seqs after', async () => {
    const { store, other } = t;
    const alice = await t.account();
    await store.revokeDevice(alice.userId, alice.deviceId, NOW - 5000, []);
    const second = await store.addDevice(alice.userId, t.newDevice({ keys: bare() }), NOW, []);
    const before = await store.controlEvents(0);
    await other.pruneControlEvents(NOW - 1000);
    const after = await store.controlEvents(0);
    expect(after.map((e) => [e.kind, e.deviceId])).toEqual([['device.added', alice.deviceId], ['device.added', second]]);
    await store.pruneControlEvents(NOW + 1);
    await other.revokeDevice(alice.userId, second, NOW, []);
    const [next] = await store.controlEvents(0);
    expect(next?.kind).toBe('device.revoked');
    expect(next!.seq).toBeGreaterThan(Math.max(...before.map((e) => e.seq)));
  });

  it('never lets an instance following the control events by seq miss one, however many are recorded at once', async () => {
    const { store, other } = t;
    const accounts = await Promise.all(Array.from({ length: 4 }, () => t.account()));
    const devices: { userId: UserId; deviceId: DeviceId }[] = [];
    for (const a of accounts) {
      devices.push(a);
      for (let i = 0; i < 5; i++) devices.push({ userId: a.userId, deviceId: await store.addDevice(a.userId, t.newDevice({ keys: bare() }), NOW, []) });
    }
    // An instance applying control events as they come, from the last seq it saw (as RelayServer does).
    const following = follower((after) => other.controlEvents(after));
    const revocations = devices.map((d, i) => t.either(i).revokeDevice(d.userId, d.deviceId, NOW, [event('device.revoked', `${d.userId}.${d.deviceId}`)]));
    expect(settled(await Promise.allSettled(revocations)).codes).toEqual([]);
    const seen = await following.stop();
    expect(seen.filter((e) => e.kind === 'device.revoked').map((e) => `${e.userId}.${e.deviceId}`).sort()).toEqual(devices.map((d) => `${d.userId}.${d.deviceId}`).sort());
  });
}
