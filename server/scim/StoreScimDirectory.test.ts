/*
 * The SCIM directory on a real relay store (embedded SQLite in a temp dir), through the SCIM request handler
 * as the relay mounts it: what an identity provider sees and may change of accounts it did not make, how a
 * deleted person comes back, and the refusals that change nothing.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test/fixtures/tempDirs';
import { scimClient } from '../../test/fixtures/scim/scimClient';
import { sha256Hex } from '../auth/secrets';
import { openStore } from '../openStore';
import type { SqliteRelayStore } from '../storage/sqlite/SqliteRelayStore';
import { UserIdSchema, type UserId } from '../../shared/ids';
import { StoreScimDirectory } from './StoreScimDirectory';

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const replace = (path: string, value: unknown) => ({ schemas: [PATCH], Operations: [{ op: 'Replace', path, value }] });

describe('the SCIM directory on the relay store', () => {
  const dir = useTempDirs();
  let store: SqliteRelayStore;
  let scim: ReturnType<typeof scimClient>;

  beforeEach(() => {
    store = openStore(dir());
    scim = scimClient(new StoreScimDirectory(store, { name: 'entra-prod', source: 'entra-prod' }, () => Date.now()));
  });
  afterEach(async () => store.close());

  const handMade = async (username: string, role: 'clinician' | 'admin' = 'clinician'): Promise<UserId> => {
    const id = UserIdSchema.parse(randomUUID());
    await store.createUser({ id, username, displayName: username, role, status: 'pending', createdAt: Date.now(), lastActiveAt: Date.now() }, sha256Hex(randomUUID()), Date.now() + 60_000, []);
    return id;
  };

  it('finds an account made by hand by its userName and adopts it with the first change, renamed in the same request', async () => {
    const id = await handMade('asmith');
    const found = await scim('GET', '/scim/v2/Users?filter=userName%20eq%20%22ASmith%22');
    expect(found.json.Resources).toEqual([expect.objectContaining({ id, userName: 'asmith', externalId: 'asmith', active: true })]);

    const patch = { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'externalId', value: 'obj-7' }, { op: 'Replace', path: 'userName', value: 'a.smith@hospital.example' }] };
    const adopted = await scim('PATCH', `/scim/v2/Users/${id}`, patch);
    expect(adopted.json).toMatchObject({ id, userName: 'a.smith@hospital.example', externalId: 'obj-7' });
    expect(await store.userById(id)).toMatchObject({ source: 'scim', externalId: 'obj-7', username: 'a.smith@hospital.example' });
    expect((await store.listUsers()).map((u) => u.id)).toEqual([id]);
    // Once SCIM's, its externalId is the person's identity there: changing it is refused.
    expect(await scim('PATCH', `/scim/v2/Users/${id}`, replace('externalId', 'obj-8'))).toMatchObject({ status: 400, json: { scimType: 'mutability' } });
  });

  it('never shows, creates over or changes the relay\'s own admin accounts', async () => {
    const admin = await handMade('root', 'admin');
    expect((await scim('GET', '/scim/v2/Users')).json.totalResults).toBe(0);
    expect((await scim('GET', `/scim/v2/Users/${admin}`)).status).toBe(404);
    expect((await scim('PATCH', `/scim/v2/Users/${admin}`, replace('active', false))).status).toBe(404);
    expect((await scim('DELETE', `/scim/v2/Users/${admin}`)).status).toBe(404);
    expect((await scim('POST', '/scim/v2/Users', { schemas: [USER_SCHEMA], userName: 'ROOT', externalId: 'x' })).json).toMatchObject({ status: '409', scimType: 'uniqueness' });
    expect(await store.userById(admin)).toMatchObject({ status: 'pending', source: 'admin', role: 'admin' });
  });

  it('deletes by deactivating and hiding, and brings the same account back when the person is created again', async () => {
    const person = { schemas: [USER_SCHEMA], userName: 'j.smith@hospital.example', externalId: 'obj-1', displayName: 'Dr. Jo Smith' };
    const id: string = (await scim('POST', '/scim/v2/Users', person)).json.id;
    expect((await scim('DELETE', `/scim/v2/Users/${id}`)).status).toBe(204);
    expect((await scim('DELETE', `/scim/v2/Users/${id}`)).status).toBe(404);
    expect((await scim('GET', '/scim/v2/Users')).json.totalResults).toBe(0);
    expect(await store.userById(id as UserId)).toMatchObject({ status: 'deactivated', deactivatedBySource: 'scim' });

    const again = await scim('POST', '/scim/v2/Users', person);
    expect(again).toMatchObject({ status: 201, json: { id, active: true } });
    expect(await store.userById(id as UserId)).toMatchObject({ status: 'pending' });
    const records = await store.auditRecordsAfter(0, 100, { types: ['user.provisioned', 'account.deactivated', 'user.deprovisioned', 'account.reactivated'] });
    expect(records.map((r) => [r.type, r.actor])).toEqual([
      ['user.provisioned', 'scim:entra-prod'], ['account.deactivated', 'scim:entra-prod'], ['user.deprovisioned', 'scim:entra-prod'], ['account.reactivated', 'scim:entra-prod'],
    ]);
  });

  it('refuses another person\'s userName and values the relay does not take, changing nothing', async () => {
    await scim('POST', '/scim/v2/Users', { schemas: [USER_SCHEMA], userName: 'j.smith@hospital.example', externalId: 'obj-1' });
    const other: string = (await scim('POST', '/scim/v2/Users', { schemas: [USER_SCHEMA], userName: 'b.okafor@hospital.example', externalId: 'obj-2' })).json.id;
    const before = await store.listUsers();
    expect(await scim('PATCH', `/scim/v2/Users/${other}`, replace('userName', 'j.smith@hospital.example'))).toMatchObject({ status: 409, json: { scimType: 'uniqueness' } });
    const refused = await scim('POST', '/scim/v2/Users', { schemas: [USER_SCHEMA], userName: `${'x'.repeat(200)}@hospital.example`, externalId: 'obj-3' });
    expect(refused).toMatchObject({ status: 400, json: { scimType: 'invalidValue' } });
    expect(refused.json.detail).not.toContain('xxxx');
    expect(await store.listUsers()).toEqual(before);
  });

  it('lets only the provider that deactivated a leaver reactivate them: another token is refused (403, audited), a rotated one is not', async () => {
    const person = { schemas: [USER_SCHEMA], userName: 'k.jones@hospital.example', externalId: 'obj-2', displayName: 'Dr. Kim Jones' };
    const id: string = (await scim('POST', '/scim/v2/Users', person)).json.id;
    expect((await scim('PATCH', `/scim/v2/Users/${id}`, replace('active', false))).status).toBe(200);
    expect(await store.userById(id as UserId)).toMatchObject({ status: 'deactivated', deactivatedBySource: 'scim', deactivatedByScim: 'entra-prod' });

    const testApp = scimClient(new StoreScimDirectory(store, { name: 'test-app', source: 'test-app' }, () => Date.now()));
    expect(await testApp('PATCH', `/scim/v2/Users/${id}`, replace('active', true))).toMatchObject({ status: 403 });
    expect(await store.userById(id as UserId)).toMatchObject({ status: 'deactivated' });
    const refused = await store.auditRecordsAfter(0, 100, { types: ['scim.refused', 'account.reactivated'] });
    expect(refused.map((r) => [r.type, r.actor, r.subject, r.details.reason, r.flagged])).toEqual([['scim.refused', 'scim:test-app', id, 'reactivation', true]]);

    const rotated = scimClient(new StoreScimDirectory(store, { name: 'entra-2027', source: 'entra-prod' }, () => Date.now()));
    expect(await rotated('PATCH', `/scim/v2/Users/${id}`, replace('active', true))).toMatchObject({ status: 200, json: { active: true } });
    expect(await store.userById(id as UserId)).toMatchObject({ status: 'pending', deactivatedByScim: null });
  });

  it("lets another provider bring back a bad token's leavers once that token is revoked, not before", async () => {
    const year = Date.now() + 365 * 24 * 3600_000;
    await store.scim.createToken('entra-prod', sha256Hex(randomUUID()), Date.now(), year, []);
    await store.scim.createToken('test-app', sha256Hex(randomUUID()), Date.now(), year, []);
    const person = { schemas: [USER_SCHEMA], userName: 'r.patel@hospital.example', externalId: 'obj-3', displayName: 'Dr. Raj Patel' };
    const id: string = (await scim('POST', '/scim/v2/Users', person)).json.id;
    // A misconfigured (or stolen) token disables someone the real provider still has.
    const testApp = scimClient(new StoreScimDirectory(store, { name: 'test-app', source: 'test-app' }, () => Date.now()));
    expect((await testApp('PATCH', `/scim/v2/Users/${id}`, replace('active', false))).status).toBe(200);
    expect(await scim('PATCH', `/scim/v2/Users/${id}`, replace('active', true))).toMatchObject({ status: 403 });
    // The admin revokes it: the real provider's next sync brings the person back.
    expect(await store.scim.revokeToken('test-app', Date.now(), [])).toBe(true);
    expect(await store.userById(id as UserId)).toMatchObject({ status: 'deactivated', deactivatedByScim: null });
    expect(await scim('PATCH', `/scim/v2/Users/${id}`, replace('active', true))).toMatchObject({ status: 200, json: { active: true } });
    expect(await store.userById(id as UserId)).toMatchObject({ status: 'pending' });
  });
});
