/**
 * A role's backup account (issue 19) on both relay stores: a deactivated account cannot be named as the backup
 * (create or update, with a clear error), and one deactivated after it was named is no backup any more: the
 * relay says so (unreachable, as the backup) and a message for the role with no one on duty reaches no one.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../server/auth/secrets';
import { RelayFailure } from '../../server/RelayFailure';
import { openStore } from '../../server/openStore';
import { RoleService } from '../../server/roles/RoleService';
import { PostgresDatabase } from '../../server/storage/postgres/PostgresDatabase';
import { PostgresRelayStore } from '../../server/storage/postgres/PostgresRelayStore';
import type { RelayStore } from '../../server/storage/RelayStore';
import { UserIdSchema, type DeviceId, type UserId } from '../../shared/ids';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import { roleRecipients } from '../../main/core/messaging/RoleDirectory';
import { onPostgres } from '../fixtures/postgres';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';

const NOW = Date.UTC(2026, 11, 3, 9);
const HOUR = 3600_000;

function backupSuite(name: string, open: () => Promise<{ store: RelayStore; close: () => Promise<void> }>): void {
  describe(`a role's backup account: ${name}`, () => {
    it('refuses a deactivated account as the backup, and treats one deactivated since as no backup', async () => {
      const { store, close } = await open();
      try {
        const roles = new RoleService(store, () => NOW);
        const person = async (username: string): Promise<UserId> => {
          const id = UserIdSchema.parse(randomUUID());
          await store.createUser({ id, username, displayName: `Dr. ${username}`, role: 'clinician', status: 'active', createdAt: NOW, lastActiveAt: NOW }, sha256Hex(randomUUID()), NOW + HOUR, []);
          const keys = await ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 1 } }).keys.initialUpload();
          await store.addDevice(id, { name: 'ws', keys, expiresAt: null, credentialHashFor: (d: DeviceId) => sha256Hex(`c-${d}`) }, NOW, []);
          return id;
        };
        const refusal = (p: Promise<unknown>) => p.then(() => 'accepted', (e: unknown) => (e instanceof RelayFailure ? `${e.code}: ${e.message}` : String(e)));
        const [lee, kim] = [await person('lee'), await person('kim')];
        await store.deactivateUser(kim, NOW, []);
        const fields = { name: 'Night pharmacy', department: null, timeZone: 'Europe/London' };
        expect(await refusal(roles.createRole('admin:test', { ...fields, backup: { username: 'kim' } }))).toBe("BAD_REQUEST: the account kim is deactivated and cannot be a role's backup: name an active account or another role");
        expect(await refusal(roles.createRole('admin:test', { ...fields, backup: { username: 'nobody' } }))).toBe('BAD_REQUEST: no account nobody to be the backup');
        const role = await roles.createRole('admin:test', { ...fields, backup: { username: 'lee' } });
        expect(await refusal(roles.updateRole('admin:test', role.name, { backup: { username: 'kim' } }))).toMatch(/^BAD_REQUEST: the account kim is deactivated/);
        expect(roleRecipients(await roles.detail(role, NOW))).toMatchObject({ users: [lee], via: 'backup' });

        // Lee leaves: the role, with no one on its rota, has no backup now, and the relay says why.
        await store.deactivateUser(lee, NOW + 1, []);
        const detail = await roles.detail(role, NOW + 2);
        expect(detail.backup).toBeNull();
        expect(detail.unreachable).toEqual([{ userId: lee, displayName: 'Dr. lee', reason: 'accountNotActive', as: 'backup' }]);
        expect(roleRecipients(detail)).toMatchObject({ users: [], via: 'nobody' });
      } finally {
        await close();
      }
    });
  });
}

backupSuite('SQLite', async () => {
  const dir = tempDataDir();
  const store = openStore(dir);
  return { store, close: async () => { await store.close(); removeDir(dir); } };
});

onPostgres("a role's backup account: PostgreSQL", (server) => {
  backupSuite('PostgreSQL', async () => {
    const pg = await server();
    const db = PostgresDatabase.connect({ url: await pg.newDatabase(), password: pg.password });
    await db.migrate();
    const store = await PostgresRelayStore.open(db, { now: () => NOW });
    return { store, close: () => store.close() };
  });
});
