/**
 * SCIM 2.0 on a real relay process (issue 18): tokens made and revoked with `rounds-server scim token`, the
 * request sequences Entra ID and Okta document replayed over HTTP (test/fixtures/scim), accounts they create
 * found by colleagues as not yet enrolled, a SCIM deactivation cutting off a connected workstation at once,
 * and unauthenticated, revoked and malformed requests refused with SCIM errors, changing nothing; and on two
 * relays sharing PostgreSQL, a token made through the database and a disable on one relay cutting the other's socket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as entra from '../fixtures/scim/entraIdRequests';
import * as okta from '../fixtures/scim/oktaRequests';
import { withQuery } from '../fixtures/scim/scimClient';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../fixtures/postgres';
import { Clinician, RelayProcess, addUser, adminCli, openRelayDatabase } from '../fixtures/relayProcess';
import { useTempDirs } from '../fixtures/tempDirs';

const PASSWORD = 'correct horse battery staple 7';
const SCIM_TYPE = 'application/scim+json';

function makeToken(data: string, name: string, database: readonly string[] = []): string {
  const made = adminCli(['scim', 'token', 'create', '--data', data, ...database, '--name', name]);
  expect(made.status, made.stderr).toBe(0);
  const token = /^(rscim_\S+)$/m.exec(made.stdout)?.[1];
  expect(token).toBeDefined();
  return token!;
}

/** A SCIM request to `base` with this bearer token (none: no Authorization header). */
async function scimRequest(base: string, token: string | null, method: string, target: string, body?: object | string, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${target}`, {
    method,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': SCIM_TYPE }), ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- SCIM bodies are asserted field by field
  return { status: response.status, headers: response.headers, json: (text === '' ? undefined : JSON.parse(text)) as any };
}

/** Waits up to `ms` for the clinician's socket to close; how long it took. */
async function closedWithin(clinician: Clinician, ms: number): Promise<number> {
  const started = Date.now();
  while (clinician.connection?.open && Date.now() < started + ms) await new Promise((r) => setTimeout(r, 20));
  expect(clinician.connection?.open).toBe(false);
  return Date.now() - started;
}

describe('SCIM provisioning through the relay', () => {
  const dir = useTempDirs();
  let data: string;
  let relay: RelayProcess;
  let colleague: Clinician;
  let entraToken: string;
  let oktaToken: string;

  beforeAll(async () => {
    data = dir();
    colleague = undefined as never;
    const code = addUser(data, 'colleague@hospital.example', 'Dr. Col League');
    entraToken = makeToken(data, 'entra-prod');
    oktaToken = makeToken(data, 'okta');
    relay = await RelayProcess.start(data);
    colleague = await Clinician.enroll(relay.url, 'colleague@hospital.example', code, PASSWORD);
  });

  afterAll(async () => {
    await colleague?.disconnect();
    await relay?.stop();
  });

  const client = (token: string | null) => (method: string, target: string, body?: object | string) => scimRequest(relay.url, token, method, target, body);
  const auditTypes = (types: readonly string[]) => {
    const db = openRelayDatabase(data);
    try {
      return db.prepare(`SELECT type, actor, details FROM audit_log WHERE type IN (${types.map(() => '?').join(',')}) ORDER BY seq`).all([...types]) as { type: string; actor: string; details: string }[];
    } finally {
      db.close();
    }
  };

  it("replays Entra ID's documented user sequence: match, create, find, update, disable, delete", async () => {
    const scim = client(entraToken);
    expect((await scim('GET', withQuery('Users', entra.entraGetUserByQuery))).json).toMatchObject({ totalResults: 0, Resources: [] });
    const created = await scim('POST', '/scim/v2/Users', entra.entraCreateUser);
    expect(created.status).toBe(201);
    expect(created.headers.get('content-type')).toContain(SCIM_TYPE);
    const id: string = created.json.id;
    expect(created.headers.get('location')).toBe(`${relay.url}/scim/v2/Users/${id}`);
    expect(created.json).toMatchObject({ externalId: entra.entraCreateUser.externalId, userName: entra.entraCreateUser.userName.toLowerCase(), displayName: 'givenName familyName', active: true });
    // Created twice: the conflict RFC 7644 asks for (Entra ID matches before it creates).
    expect((await scim('POST', '/scim/v2/Users', entra.entraCreateUser))).toMatchObject({ status: 409, json: { scimType: 'uniqueness' } });

    expect((await scim('GET', withQuery('Users', entra.entraGetUserByQuery))).json.Resources.map((u: { id: string }) => u.id)).toEqual([id]);
    expect((await scim('GET', withQuery('Users', `filter=externalId eq "${entra.entraCreateUser.externalId}"`))).json.totalResults).toBe(1);
    expect((await scim('GET', `/scim/v2/Users/${id}`)).json).toMatchObject({ id, meta: { resourceType: 'User', location: `${relay.url}/scim/v2/Users/${id}` } });

    // A colleague finds the new account in the directory, not yet enrolled.
    const found = (await colleague.relay.searchDirectory('givenName', 10)).users;
    expect(found.map((u) => [u.userId, u.username, u.status, u.devices])).toEqual([[id, entra.entraCreateUser.userName.toLowerCase(), 'pending', []]]);

    expect((await scim('PATCH', `/scim/v2/Users/${id}`, entra.entraUpdateMultiValued)).status).toBe(200);
    expect((await scim('PATCH', `/scim/v2/Users/${id}`, entra.entraReplaceMultipleWithFlag)).json.displayName).toBe('Bjfe');
    expect((await scim('PATCH', `/scim/v2/Users/${id}`, entra.entraUpdateUserName)).json.userName).toBe('5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com');
    const disabled = await scim('PATCH', `/scim/v2/Users/${id}`, entra.entraDisableUserWithoutFlag);
    expect(disabled).toMatchObject({ status: 200, json: { active: false } });
    expect((await scim('GET', withQuery('Users', 'filter=userName eq "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"'))).json.Resources[0].active).toBe(false);
    expect((await colleague.relay.searchDirectory('Bjfe', 10)).users).toEqual([]);

    expect((await scim('DELETE', `/scim/v2/Users/${id}`)).status).toBe(204);
    expect((await scim('GET', `/scim/v2/Users/${id}`)).status).toBe(404);
    expect((await scim('GET', withQuery('Users', `filter=externalId eq "${entra.entraCreateUser.externalId}"`))).json.totalResults).toBe(0);

    const records = auditTypes(['user.provisioned', 'user.updated', 'account.deactivated', 'user.deprovisioned']).filter((r) => r.actor === 'scim:entra-prod');
    expect(records.map((r) => r.type)).toEqual(['user.provisioned', 'user.updated', 'user.updated', 'account.deactivated', 'user.deprovisioned']);
  });

  it("replays Entra ID's group sequence and Okta's user and group sequences", async () => {
    const scim = client(oktaToken);
    expect((await scim('GET', okta.oktaFindUserTarget)).json).toMatchObject({ totalResults: 0, Resources: [] });
    const created = await scim('POST', '/scim/v2/Users', okta.oktaCreateUser);
    expect(created).toMatchObject({ status: 201, json: { userName: 'test.user@okta.local', displayName: 'Test User', externalId: '00ujl29u0le5T6Aj10h7', active: true } });
    expect(JSON.stringify(created.json)).not.toContain(okta.oktaCreateUser.password);
    const alice: string = created.json.id;
    expect((await scim('GET', okta.oktaFindUserTarget)).json.Resources[0].id).toBe(alice);
    const replaced = await scim('PUT', `/scim/v2/Users/${alice}`, okta.oktaReplaceUser(alice));
    expect(replaced).toMatchObject({ status: 200, json: { displayName: 'Another User', externalId: '00ujl29u0le5T6Aj10h7' } });
    expect((await scim('POST', '/scim/v2/Users', okta.oktaCreateUser)).status).toBe(409);
    const bob: string = (await scim('POST', '/scim/v2/Users', { ...okta.oktaCreateUser, userName: 'bob@okta.local', externalId: '00ubob' })).json.id;

    const group = await scim('POST', '/scim/v2/Groups', okta.oktaCreateGroup);
    expect(group).toMatchObject({ status: 201, json: { displayName: 'Test SCIMv2', members: [] } });
    const gid: string = group.json.id;
    expect((await scim('PATCH', `/scim/v2/Groups/${gid}`, okta.oktaRenameGroup(gid))).status).toBe(204);
    expect((await scim('PATCH', `/scim/v2/Groups/${gid}`, entra.entraAddMember(bob))).status).toBe(204);
    expect((await scim('PATCH', `/scim/v2/Groups/${gid}`, okta.oktaUpdateMembership(bob, alice))).status).toBe(204);
    expect((await scim('GET', `/scim/v2/Groups/${gid}`)).json.members.map((m: { value: string }) => m.value)).toEqual([alice]);
    expect((await scim('PATCH', `/scim/v2/Groups/${gid}`, okta.oktaReplaceMembers(alice, bob))).status).toBe(204);
    expect((await scim('GET', `/scim/v2/Groups/${gid}`)).json.members.map((m: { value: string }) => m.value)).toEqual([alice, bob]);
    expect((await scim('DELETE', `/scim/v2/Groups/${gid}`)).status).toBe(204);
    expect((await scim('GET', okta.oktaListGroupsTarget)).json.totalResults).toBe(0);

    // Entra ID's group steps, with its own token.
    const e = client(entraToken);
    const eg = await e('POST', '/scim/v2/Groups', entra.entraCreateGroup);
    expect(eg.status).toBe(201);
    expect((await e('GET', withQuery('Groups', entra.entraGetGroupByDisplayName))).json.Resources[0]).not.toHaveProperty('members');
    expect((await e('PATCH', `/scim/v2/Groups/${eg.json.id}`, entra.entraAddMember(alice))).status).toBe(204);
    expect((await e('PATCH', `/scim/v2/Groups/${eg.json.id}`, entra.entraRemoveMemberWithFlag(alice))).status).toBe(204);
    expect((await e('PATCH', `/scim/v2/Groups/${eg.json.id}`, entra.entraUpdateGroupName)).status).toBe(204);
    expect((await e('POST', '/scim/v2/Groups', { ...entra.entraCreateGroup, displayName: '1879DB59-3bdf-4490-ad68-ab880a269474updatedDisplayName' }))).toMatchObject({ status: 409, json: { scimType: 'uniqueness' } });
    expect(await e('PATCH', `/scim/v2/Groups/${eg.json.id}`, entra.entraAddMember('00000000-0000-4000-8000-000000000000'))).toMatchObject({ status: 400, json: { scimType: 'invalidValue' } });
    // Okta's documented rename names the group as it was: a change that changes nothing is not recorded.
    expect(auditTypes(['group.provisioned', 'group.updated', 'group.deleted']).map((r) => [r.type, r.actor])).toEqual([
      ['group.provisioned', 'scim:okta'], ['group.updated', 'scim:okta'], ['group.updated', 'scim:okta'], ['group.updated', 'scim:okta'], ['group.deleted', 'scim:okta'],
      ['group.provisioned', 'scim:entra-prod'], ['group.updated', 'scim:entra-prod'], ['group.updated', 'scim:entra-prod'], ['group.updated', 'scim:entra-prod'],
    ]);
  });

  it('cuts off every workstation of a person SCIM disables, at once, and refuses their next sign-in', async () => {
    const scim = client(entraToken);
    const created = await scim('POST', '/scim/v2/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'E.Ward@hospital.example', externalId: 'obj-eward', displayName: 'Dr. Eve Ward', active: true });
    expect(created.status).toBe(201);
    // The account SCIM made gets its enrollment code from the admin, and enrolls a workstation.
    const leaving = await Clinician.enroll(relay.url, 'e.ward@hospital.example', addUser(data, 'e.ward@hospital.example', 'Dr. Eve Ward'), PASSWORD);
    await leaving.connect();
    expect(leaving.connection?.open).toBe(true);

    expect((await scim('PATCH', `/scim/v2/Users/${created.json.id}`, entra.entraDisableUser)).json.active).toBe(false);
    expect(await closedWithin(leaving, 2000)).toBeLessThan(2000);
    await expect(leaving.relay.keyCount()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(Clinician.login(relay.url, 'e.ward@hospital.example', PASSWORD)).rejects.toMatchObject({ code: 'ACCOUNT_INACTIVE' });
    expect(auditTypes(['account.deactivated']).filter((r) => r.actor === 'scim:entra-prod').length).toBeGreaterThanOrEqual(2);
  });

  it('refuses missing, unknown and revoked tokens and malformed requests with SCIM errors, changing nothing', async () => {
    const before = (await client(entraToken)('GET', '/scim/v2/Users?count=0')).json.totalResults;
    for (const token of [null, 'rscim_not-a-token', entraToken.slice(0, -1)]) {
      for (let i = 0; i < 3; i++) {
        const refused = await client(token)('POST', '/scim/v2/Users', okta.oktaCreateUser);
        expect(refused.status).toBe(401);
        expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(refused.json).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '401' });
      }
    }
    // Audited by episode: one record for each address and reason, however many times it came.
    expect(auditTypes(['scim.refused']).map((r) => JSON.parse(r.details) as { reason: string })).toEqual([
      expect.objectContaining({ reason: 'missing', episode: 'started', requests: 1 }),
      expect.objectContaining({ reason: 'unknown', episode: 'started', requests: 1 }),
    ]);

    const scim = client(entraToken);
    expect(await scim('POST', '/scim/v2/Users', '{"schemas": [')).toMatchObject({ status: 400, json: { scimType: 'invalidSyntax' } });
    expect(await scim('POST', '/scim/v2/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'has space' })).toMatchObject({ status: 400, json: { scimType: 'invalidValue' } });
    expect(await scim('GET', '/scim/v2/Users?filter=userName%20sw%20%22a')).toMatchObject({ status: 400, json: { scimType: 'invalidFilter' } });
    expect(await scim('POST', '/scim/v2/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'big', displayName: 'x'.repeat(1024 * 1024) })).toMatchObject({ status: 413, json: { status: '413' } });
    expect(await scim('GET', '/scim/v2/Users/not-an-id')).toMatchObject({ status: 404 });
    expect(await scim('DELETE', '/scim/v2/Users')).toMatchObject({ status: 405 });
    // The relay's own accounts are not SCIM's: an admin's username cannot be created or taken over.
    addUser(data, 'root@hospital.example', 'Relay admin', 'admin');
    expect(await scim('POST', '/scim/v2/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'root@hospital.example', externalId: 'x' })).toMatchObject({ status: 409 });
    expect((await scim('GET', '/scim/v2/Users?filter=userName%20eq%20%22root%40hospital.example%22')).json.totalResults).toBe(0);
    expect((await scim('GET', '/scim/v2/Users?count=0')).json.totalResults).toBe(before);

    // Revoked: refused at once, and said so.
    const revoked = adminCli(['scim', 'token', 'revoke', '--data', data, 'okta']);
    expect(revoked.status, revoked.stderr).toBe(0);
    expect(adminCli(['scim', 'token', 'list', '--data', data]).stdout).toMatch(/^okta\tcreated \S+\texpires \S+\trevoked \S+$/m);
    const refused = await client(oktaToken)('GET', '/scim/v2/Users');
    expect(refused).toMatchObject({ status: 401, json: { detail: expect.stringMatching(/revoked/) } });
    expect(adminCli(['scim', 'token', 'revoke', '--data', data, 'okta'])).toMatchObject({ status: 1, stderr: expect.stringMatching(/no active SCIM token named okta/) });
    expect(adminCli(['scim', 'token', 'create', '--data', data, '--name', 'okta'])).toMatchObject({ status: 1, stderr: expect.stringMatching(/exists already/) });
    // Rotation: a token made to replace okta's keeps okta's groups (the list says whose); it must name a token there is.
    expect(adminCli(['scim', 'token', 'create', '--data', data, '--name', 'okta-2027', '--replaces', 'okta']).status).toBe(0);
    expect(adminCli(['scim', 'token', 'list', '--data', data]).stdout).toMatch(/^okta-2027\tcreated \S+\texpires \S+\tactive\tgroups of okta$/m);
    expect(adminCli(['scim', 'token', 'create', '--data', data, '--name', 'x-2027', '--replaces', 'nobody'])).toMatchObject({ status: 1, stderr: expect.stringMatching(/no SCIM token named nobody/) });
    // Every token expires: "never" and more than two years are refused before anything is made.
    expect(adminCli(['scim', 'token', 'create', '--data', data, '--name', 'forever', '--expires-in', 'never'])).toMatchObject({ status: 1, stderr: expect.stringMatching(/always expire/) });
    expect(adminCli(['scim', 'token', 'create', '--data', data, '--name', 'forever', '--expires-in', '731'])).toMatchObject({ status: 1, stderr: expect.stringMatching(/1 to 730 days/) });
    const soon = adminCli(['scim', 'token', 'create', '--data', data, '--name', 'short', '--expires-in', '7d']);
    expect(soon.status, soon.stderr).toBe(0);
    expect(adminCli(['scim', 'token', 'list', '--data', data])).toMatchObject({ stdout: expect.stringMatching(/^short\tcreated \S+\texpires \S+\tactive$/m), stderr: expect.stringMatching(/SCIM token short expires at \S+ \(in 6 days\)/) });
    expect(auditTypes(['scim.token_created', 'scim.token_revoked']).map((r) => [r.type, JSON.parse(r.details) as unknown])).toEqual([
      ['scim.token_created', { name: 'entra-prod', expiresAt: expect.any(String) }], ['scim.token_created', { name: 'okta', expiresAt: expect.any(String) }], ['scim.token_revoked', { name: 'okta' }],
      ['scim.token_created', { name: 'okta-2027', expiresAt: expect.any(String), replaces: 'okta' }], ['scim.token_created', { name: 'short', expiresAt: expect.any(String) }],
    ]);
  });
});

const unavailable = postgresUnavailable();
if (unavailable) console.log(`SCIM on PostgreSQL skipped: ${unavailable}`);

describe.skipIf(unavailable !== null)('SCIM on relays sharing a PostgreSQL database', () => {
  const dir = useTempDirs();
  let pg: TestPostgres;
  const relays: RelayProcess[] = [];
  afterAll(async () => {
    for (const relay of relays) await relay.stop();
    await pg?.stop();
  });

  it('takes a token made through the database on every relay, and a disable on one cuts the socket held by the other', async () => {
    pg = await startPostgres();
    const database = ['--database', await pg.newDatabase(), '--database-password-file', pg.passwordFile];
    expect(adminCli(['migrate', ...database]).status).toBe(0);
    const token = makeToken(dir(), 'entra-prod', database);
    for (let i = 0; i < 2; i++) relays.push(await RelayProcess.start(dir(), database));
    const [a, b] = relays as [RelayProcess, RelayProcess];

    const created = await scimRequest(a.url, token, 'POST', '/scim/v2/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'e.ward@hospital.example', externalId: 'obj-eward', displayName: 'Dr. Eve Ward' });
    expect(created.status).toBe(201);
    expect((await scimRequest(b.url, token, 'GET', withQuery('Users', 'filter=externalId eq "obj-eward"'))).json.Resources.map((u: { id: string }) => u.id)).toEqual([created.json.id]);
    const added = adminCli(['user', 'add', '--data', dir(), ...database, '--username', 'e.ward@hospital.example', '--display-name', 'Dr. Eve Ward', '--role', 'clinician']);
    const leaving = await Clinician.enroll(b.url, 'e.ward@hospital.example', /enrollment code: (\S+)/.exec(added.stdout)?.[1] ?? '', PASSWORD);
    await leaving.connect();

    expect((await scimRequest(a.url, token, 'PATCH', `/scim/v2/Users/${created.json.id}`, entra.entraDisableUser)).json.active).toBe(false);
    expect(await closedWithin(leaving, 3000)).toBeLessThan(3000);

    expect(adminCli(['scim', 'token', 'revoke', '--data', dir(), ...database, 'entra-prod']).status).toBe(0);
    for (const relay of [a, b]) expect((await scimRequest(relay.url, token, 'GET', '/scim/v2/Users')).status).toBe(401);
  }, 60_000);
});
