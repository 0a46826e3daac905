import { KEMKeyPair, PrivateKey } from '@signalapp/libsignal-client';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserIdSchema, type DeviceAddress, type UserId } from '../../shared/ids';
import { forwardingSigningBytes, type ForwardingSignature, type PresenceUpdate } from '../../shared/wire/presence';
import { RoleIdSchema } from '../../shared/wire/roles';
import { removeDir, tempDataDir } from '../../test/fixtures/relayProcess';
import { openStore } from '../openStore';
import type { RelayStore } from '../storage/RelayStore';
import { PresenceService } from './PresenceService';

const MINUTE = 60_000;

/** Presence on the relay in virtual time (the service's clock is ours), on the embedded store. */
describe('presence on the relay, in virtual time', () => {
  let dir: string;
  let store: RelayStore;
  let now = Date.UTC(2026, 11, 3, 8);
  let service: PresenceService;

  const user = async (username: string): Promise<UserId> => {
    const id = UserIdSchema.parse(randomUUID());
    await store.createUser({ id, username, displayName: username, role: 'clinician', status: 'active', createdAt: now, lastActiveAt: now }, randomUUID(), now + MINUTE, []);
    return id;
  };

  /** A workstation of `userId` with an identity key on the relay; `set` signs a forward-to as the app does. */
  const device = async (userId: UserId) => {
    const identity = PrivateKey.generate();
    const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
    const signedKey = (publicKey: Uint8Array<ArrayBuffer>) => ({ keyId: 1, publicKey: b64(publicKey), signature: b64(identity.sign(publicKey)) });
    const keys = {
      identityKey: b64(identity.getPublicKey().serialize()), registrationId: 1, preKeys: [], kyberPreKeys: [],
      signedPreKey: signedKey(PrivateKey.generate().getPublicKey().serialize()), lastResortKyberPreKey: signedKey(KEMKeyPair.generate().getPublicKey().serialize()),
    };
    const address: DeviceAddress = { userId, deviceId: await store.addDevice(userId, { name: 'ws', keys, expiresAt: null, credentialHashFor: () => randomUUID() }, now, []) };
    const sign = (update: PresenceUpdate, at = now): ForwardingSignature | null => update.forwardTo
      ? { signedAt: at, signature: Buffer.from(identity.sign(forwardingSigningBytes(address, { status: update.status, forwardTo: update.forwardTo, until: update.until ?? null }, at))).toString('base64') }
      : null;
    return { address, sign, set: (update: PresenceUpdate) => service.set(address, { update, forwarding: sign(update) }) };
  };

  beforeEach(() => {
    dir = tempDataDir();
    store = openStore(dir);
    service = new PresenceService(store, () => now);
  });
  afterEach(async () => {
    await store.close();
    removeDir(dir);
  });

  it('ends a status at its end time: Available again, nothing forwarded, nothing written', async () => {
    const lee = await device(await user('lee'));
    const patel = await user('patel');
    const kim = await user('kim');
    await lee.set({ status: 'offShift', note: 'Back 08:00', until: now + 30 * MINUTE, forwardTo: { kind: 'user', userId: patel } });
    const [during, other] = await service.read([lee.address.userId, kim]);
    expect(during).toMatchObject({ status: 'offShift', note: 'Back 08:00', forwardTo: { kind: 'user', userId: patel }, since: now, forwarding: { signer: lee.address, signedAt: now } });
    expect(other).toEqual({ userId: kim, status: 'available', note: null, until: null, forwardTo: null, since: null });

    now += 30 * MINUTE - 1;
    expect((await service.read([lee.address.userId]))[0]?.status).toBe('offShift');
    now += 1;
    const [after] = await service.read([lee.address.userId]);
    expect(after).toEqual({ userId: lee.address.userId, status: 'available', note: null, until: null, forwardTo: null, since: null });
    // The change is audited once (with its end time, not the note's words); its end writes nothing.
    const records = await store.auditRecordsAfter(0, 100, { types: ['presence.changed'] });
    expect(records.map((r) => [r.actor, r.subject, r.details])).toEqual([[`${lee.address.userId}.${lee.address.deviceId}`, lee.address.userId, { status: 'offShift', until: now, forwardTo: `user:${patel}`, note: true }]]);
  });

  it('replaces a status whole from another device, and keeps a note on Available', async () => {
    const leeId = await user('lee');
    const [first, second] = [await device(leeId), await device(leeId)];
    const patel = await user('patel');
    await first.set({ status: 'doNotDisturb', until: now + MINUTE, forwardTo: { kind: 'user', userId: patel } });
    await second.set({ status: 'inProcedure', note: 'Theatre 3' });
    expect(await service.read([leeId])).toEqual([{ userId: leeId, status: 'inProcedure', note: 'Theatre 3', until: null, forwardTo: null, since: now }]);
    await second.set({ status: 'available', note: 'Ward 4 today' });
    expect(await service.read([leeId, leeId])).toEqual([{ userId: leeId, status: 'available', note: 'Ward 4 today', until: null, forwardTo: null, since: now }]);
    await second.set({ status: 'available' });
    expect((await store.presence.presenceOf([leeId]))).toEqual([]);
  });

  it('forwards to an on-call role that exists, and refuses one that does not', async () => {
    const lee = await device(await user('lee'));
    const roleId = RoleIdSchema.parse(randomUUID());
    await store.roles.createRole({ id: roleId, name: 'Cardiology on call', department: null, timeZone: 'Europe/London', backup: null }, now, []);
    const set = await lee.set({ status: 'doNotDisturb', forwardTo: { kind: 'role', roleId } });
    expect(set).toMatchObject({ status: 'doNotDisturb', forwardTo: { kind: 'role', roleId } });
    const unknown = RoleIdSchema.parse(randomUUID());
    await expect(lee.set({ status: 'offShift', forwardTo: { kind: 'role', roleId: unknown } })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('no on-call role') });
    expect((await service.read([lee.address.userId]))[0]).toMatchObject({ status: 'doNotDisturb', forwardTo: { kind: 'role', roleId } });
  });

  it('takes a forward-to only signed by the device that sets it, over exactly what it sets, signed about now', async () => {
    const lee = await device(await user('lee'));
    const other = await device(await user('ahmed'));
    const patel = await user('patel');
    const mallory = await user('mallory');
    const update: PresenceUpdate = { status: 'offShift', until: now + 60 * MINUTE, forwardTo: { kind: 'user', userId: patel } };
    const refused = (forwarding: ForwardingSignature | null, message: string, code = 'SIGNATURE_INVALID') =>
      expect(service.set(lee.address, { update, forwarding })).rejects.toMatchObject({ code, message: expect.stringContaining(message) });
    await refused(null, 'must be signed', 'BAD_REQUEST');
    // Another account's device signed it; or it was signed for another colleague, another end time.
    await refused(other.sign(update), 'signature does not verify');
    await refused(lee.sign({ ...update, forwardTo: { kind: 'user', userId: mallory } }), 'signature does not verify');
    await refused(lee.sign({ ...update, until: now + 61 * MINUTE }), 'signature does not verify');
    await refused(lee.sign(update, now - 6 * MINUTE), '5 minutes', 'BAD_REQUEST');
    expect(await service.read([lee.address.userId])).toEqual([{ userId: lee.address.userId, status: 'available', note: null, until: null, forwardTo: null, since: null }]);
    await expect(service.set(lee.address, { update: { status: 'busy' }, forwarding: lee.sign(update) })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('only a forward-to is signed') });

    const set = await lee.set(update);
    // The identity key still goes beside it for workstations from before it became optional (readers now ignore it).
    expect(set.forwarding).toEqual({ signer: lee.address, signedAt: now, signature: expect.any(String), identityKey: expect.any(String) });
    expect((await service.read([lee.address.userId]))[0]?.forwarding).toEqual(set.forwarding);
  });

  it('lets a forward-to without an end time lapse a week after it was signed; the status stays', async () => {
    const lee = await device(await user('lee'));
    const patel = await user('patel');
    await lee.set({ status: 'offShift', forwardTo: { kind: 'user', userId: patel } });
    now += 7 * 24 * 60 * MINUTE - 1;
    expect((await service.read([lee.address.userId]))[0]).toMatchObject({ status: 'offShift', forwardTo: { kind: 'user', userId: patel } });
    now += 1;
    const [lapsed] = await service.read([lee.address.userId]);
    expect(lapsed).toMatchObject({ status: 'offShift', forwardTo: null });
    expect(lapsed).not.toHaveProperty('forwarding');
  });
});
