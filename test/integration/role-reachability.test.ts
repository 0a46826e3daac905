/**
 * Who holds an on-call role, as far as a message is concerned (issue 19, review item 1): someone the rota names
 * whose account was deactivated (an admin, the directory, inactivity) or who has no workstation signed in is not
 * a holder a message can reach. The relay leaves them out, says so (the app can tell the sender), and a message
 * for the role then goes to the backup, as the app's core resolves it (roleRecipients).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../server/auth/secrets';
import { openStore } from '../../server/openStore';
import { RoleService } from '../../server/roles/RoleService';
import type { RelayStore } from '../../server/storage/RelayStore';
import { UserIdSchema, type DeviceId, type UserId } from '../../shared/ids';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import { roleRecipients } from '../../main/core/messaging/RoleDirectory';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';

const NOW = Date.UTC(2026, 11, 3, 9);
const HOUR = 3600_000;

describe('on-call role holders a message can reach', () => {
  const opened: { store: RelayStore; dir: string }[] = [];
  afterEach(async () => {
    for (const { store, dir } of opened.splice(0)) {
      await store.close();
      removeDir(dir);
    }
  });

  async function world() {
    const dir = tempDataDir();
    const store = openStore(dir);
    opened.push({ store, dir });
    const roles = new RoleService(store, () => NOW);
    /** An active account, with a workstation signed in unless `workstation` is false. */
    const person = async (name: string, workstation = true): Promise<UserId> => {
      const id = UserIdSchema.parse(randomUUID());
      await store.createUser({ id, username: name, displayName: `Dr. ${name}`, role: 'clinician', status: 'active', createdAt: NOW, lastActiveAt: NOW }, sha256Hex(randomUUID()), NOW + HOUR, []);
      if (workstation) {
        const keys = await ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 1 } }).keys.initialUpload();
        await store.addDevice(id, { name: 'ws', keys, expiresAt: null, credentialHashFor: (d: DeviceId) => sha256Hex(`c-${d}`) }, NOW, []);
      }
      return id;
    };
    return { store, roles, person };
  }

  it('takes a deactivated holder off the rota, leaves out one with no workstation, and the role goes to its backup', async () => {
    const { store, roles, person } = await world();
    const [lee, kim] = [await person('lee'), await person('kim', false)];
    await person('patel');
    const role = await roles.createRole('admin:test', { name: 'Cardiology on call', department: null, timeZone: 'Europe/London', backup: { username: 'patel' } });
    for (const userId of [lee, kim]) await roles.addShift('admin:test', role, { userId, startsAt: NOW - HOUR, endsAt: NOW + 8 * HOUR }, 'cli');
    expect((await roles.detail(role, NOW)).holders.map((h) => h.displayName)).toEqual(['Dr. lee']);

    await store.deactivateUser(lee, NOW, []);
    const detail = await roles.detail(role, NOW);
    expect(detail.holders).toEqual([]);
    // Lee's shift ended when his account was deactivated (he is no longer on the rota at all); Kim is, unreachable.
    expect(detail.unreachable.map((u) => [u.displayName, u.reason, u.as, u.since])).toEqual([['Dr. kim', 'noWorkstation', 'holder', NOW - HOUR]]);
    expect((await store.roles.shifts(role.id, NOW - HOUR, NOW + 8 * HOUR)).filter((s) => s.userId === lee).map((s) => s.endsAt)).toEqual([NOW]);
    expect(detail.backup).toMatchObject({ kind: 'user', displayName: 'Dr. patel' });
    const to = roleRecipients(detail);
    expect([to.via, to.users]).toEqual(['backup', [detail.backup?.kind === 'user' ? detail.backup.userId : 'none']]);
  });

  it('goes to nobody, and says why, when neither the holders nor the backup role\'s holders can be reached', async () => {
    const { store, roles, person } = await world();
    const [lee, patel] = [await person('lee'), await person('patel')];
    const registrars = await roles.createRole('admin:test', { name: 'Cardiology registrar', department: null, timeZone: 'Europe/London', backup: null });
    await roles.addShift('admin:test', registrars, { userId: patel, startsAt: NOW - HOUR, endsAt: NOW + HOUR }, 'cli');
    const role = await roles.createRole('admin:test', { name: 'Cardiology on call', department: null, timeZone: 'Europe/London', backup: { role: 'Cardiology registrar' } });
    await roles.addShift('admin:test', role, { userId: lee, startsAt: NOW - HOUR, endsAt: NOW + HOUR }, 'cli');
    for (const userId of [lee, patel]) {
      for (const d of await store.devices(userId)) await store.revokeDevice(userId, d.deviceId, NOW - 1, []);
    }
    const detail = await roles.detail(role, NOW);
    expect(detail.holders).toEqual([]);
    expect(detail.backup).toMatchObject({ kind: 'role', holders: [] });
    expect(detail.unreachable.map((u) => [u.displayName, u.reason, u.as])).toEqual([['Dr. lee', 'noWorkstation', 'holder'], ['Dr. patel', 'noWorkstation', 'backup']]);
    expect(roleRecipients(detail).via).toBe('nobody');
  });
});
