import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserIdSchema, type DeviceId, type UserId } from '../../shared/ids';
import { RoleIdSchema } from '../../shared/wire/roles';
import { removeDir, tempDataDir } from '../../test/fixtures/relayProcess';
import { openStore } from '../RelayServer';
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
    const lee = await user('lee');
    const patel = await user('patel');
    const kim = await user('kim');
    await service.set({ userId: lee, deviceId: 1 as DeviceId }, { status: 'offShift', note: 'Back 08:00', until: now + 30 * MINUTE, forwardTo: { kind: 'user', userId: patel } });
    const [during, other] = await service.read([lee, kim]);
    expect(during).toMatchObject({ status: 'offShift', note: 'Back 08:00', forwardTo: { kind: 'user', userId: patel }, since: now });
    expect(other).toEqual({ userId: kim, status: 'available', note: null, until: null, forwardTo: null, since: null });

    now += 30 * MINUTE - 1;
    expect((await service.read([lee]))[0]?.status).toBe('offShift');
    now += 1;
    const [after] = await service.read([lee]);
    expect(after).toEqual({ userId: lee, status: 'available', note: null, until: null, forwardTo: null, since: null });
    // The change is audited once (with its end time, not the note's words); its end writes nothing.
    const records = await store.auditRecordsAfter(0, 100, { types: ['presence.changed'] });
    expect(records.map((r) => [r.actor, r.subject, r.details])).toEqual([[`${lee}.1`, lee, { status: 'offShift', until: now, forwardTo: `user:${patel}`, note: true }]]);
  });

  it('replaces a status whole from another device, and keeps a note on Available', async () => {
    const lee = await user('lee');
    const patel = await user('patel');
    await service.set({ userId: lee, deviceId: 1 as DeviceId }, { status: 'doNotDisturb', until: now + MINUTE, forwardTo: { kind: 'user', userId: patel } });
    await service.set({ userId: lee, deviceId: 2 as DeviceId }, { status: 'inProcedure', note: 'Theatre 3' });
    expect(await service.read([lee])).toEqual([{ userId: lee, status: 'inProcedure', note: 'Theatre 3', until: null, forwardTo: null, since: now }]);
    await service.set({ userId: lee, deviceId: 2 as DeviceId }, { status: 'available', note: 'Ward 4 today' });
    expect(await service.read([lee, lee])).toEqual([{ userId: lee, status: 'available', note: 'Ward 4 today', until: null, forwardTo: null, since: now }]);
    await service.set({ userId: lee, deviceId: 2 as DeviceId }, { status: 'available' });
    expect((await store.presence.presenceOf([lee]))).toEqual([]);
  });

  it('forwards to an on-call role that exists, and refuses one that does not', async () => {
    const lee = await user('lee');
    const roleId = RoleIdSchema.parse(randomUUID());
    await store.roles.createRole({ id: roleId, name: 'Cardiology on call', department: null, timeZone: 'Europe/London', backup: null }, now, []);
    const set = await service.set({ userId: lee, deviceId: 1 as DeviceId }, { status: 'doNotDisturb', forwardTo: { kind: 'role', roleId } });
    expect(set).toMatchObject({ status: 'doNotDisturb', forwardTo: { kind: 'role', roleId } });
    const unknown = RoleIdSchema.parse(randomUUID());
    await expect(service.set({ userId: lee, deviceId: 1 as DeviceId }, { status: 'offShift', forwardTo: { kind: 'role', roleId: unknown } })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('no on-call role') });
    expect((await service.read([lee]))[0]).toMatchObject({ status: 'doNotDisturb', forwardTo: { kind: 'role', roleId } });
  });
});
