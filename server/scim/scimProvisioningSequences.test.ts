/*
 * The provisioning sequences Entra ID and Okta document, replayed request by request through
 * handleScimRequest against a ScimDirectory kept in memory (the relay store's implementation gets its own
 * test once it exists). Each step's request is the documented one (test/fixtures/scim/*Requests.ts, with
 * sources); the assertions are what each provider's guide says it expects back.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryScimDirectory } from '../../test/fixtures/scim/inMemoryScimDirectory';
import { SCIM_BASE_URL, scimClient, withQuery } from '../../test/fixtures/scim/scimClient';
import * as entra from '../../test/fixtures/scim/entraIdRequests';
import * as okta from '../../test/fixtures/scim/oktaRequests';

describe("Entra ID's documented sequence (learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups)", () => {
  it('matches, creates, reads, updates, disables and deletes a user', async () => {
    const directory = new InMemoryScimDirectory();
    const scim = scimClient(directory);

    // Test Connection and the first match: 200 with an empty ListResponse.
    const none = await scim('GET', withQuery('Users', entra.entraGetUserByQuery));
    expect(none.status).toBe(200);
    expect(none.json).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 0, Resources: [] });
    expect((await scim('GET', withQuery('Users', entra.entraGetUserByQueryZeroResults))).json.totalResults).toBe(0);

    // Create User: 201 with id, Location and the user.
    const created = await scim('POST', '/scim/v2/Users', entra.entraCreateUser);
    expect(created.status).toBe(201);
    expect(created.headers['content-type']).toBe('application/scim+json');
    const id: string = created.json.id;
    expect(created.headers['location']).toBe(`${SCIM_BASE_URL}/Users/${id}`);
    expect(created.json).toMatchObject({ externalId: entra.entraCreateUser.externalId, userName: entra.entraCreateUser.userName.toLowerCase(), active: true, meta: { resourceType: 'User' } });

    // Get User by query: the userName as Entra ID holds it (mixed case), and by externalId.
    const found = await scim('GET', withQuery('Users', entra.entraGetUserByQuery));
    expect(found.json).toMatchObject({ totalResults: 1, startIndex: 1, itemsPerPage: 1 });
    expect(found.json.Resources[0].id).toBe(id);
    expect((await scim('GET', withQuery('Users', `filter=externalId eq "${entra.entraCreateUser.externalId}"`))).json.totalResults).toBe(1);

    // Get User.
    expect((await scim('GET', `/scim/v2/Users/${id}`)).json).toMatchObject({ id, displayName: 'givenName familyName' });

    // Update User [Multi-valued properties], then the flag's path-less replace, then [Single-valued properties].
    expect((await scim('PATCH', `/scim/v2/Users/${id}`, entra.entraUpdateMultiValued)).status).toBe(200);
    const renamed = await scim('PATCH', `/scim/v2/Users/${id}`, entra.entraReplaceMultipleWithFlag);
    expect(renamed.json.displayName).toBe('Bjfe');
    const newUserName = await scim('PATCH', `/scim/v2/Users/${id}`, entra.entraUpdateUserName);
    expect(newUserName.json.userName).toBe('5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com');

    // Disable User, as sent without the aadOptscim062020 flag ("False") - the store sees active false.
    const disabled = await scim('PATCH', `/scim/v2/Users/${id}`, entra.entraDisableUserWithoutFlag);
    expect(disabled.status).toBe(200);
    expect(disabled.json.active).toBe(false);
    expect(directory.users.get(disabled.json.id)?.person.active).toBe(false);
    // Entra ID returns soft-deleted users in queries: the disabled user is still found.
    expect((await scim('GET', withQuery('Users', 'filter=userName eq "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"'))).json.Resources[0].active).toBe(false);
    // The documented disable with a boolean changes nothing more, and writes nothing.
    const writes = directory.writes.length;
    expect((await scim('PATCH', `/scim/v2/Users/${id}`, entra.entraDisableUser)).json.active).toBe(false);
    expect(directory.writes.length).toBe(writes);

    // Delete User: 204, then 404.
    expect((await scim('DELETE', `/scim/v2/Users/${id}`)).status).toBe(204);
    expect((await scim('GET', `/scim/v2/Users/${id}`)).status).toBe(404);
  });

  it('creates a group, finds it by displayName, adds and removes a member, renames and deletes it', async () => {
    const directory = new InMemoryScimDirectory();
    const scim = scimClient(directory);
    const member: string = (await scim('POST', '/scim/v2/Users', entra.entraCreateUser)).json.id;

    const created = await scim('POST', '/scim/v2/Groups', entra.entraCreateGroup);
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ displayName: 'displayName', externalId: entra.entraCreateGroup.externalId, members: [] });
    const id: string = created.json.id;

    const byName = await scim('GET', withQuery('Groups', entra.entraGetGroupByDisplayName));
    expect(byName.json.totalResults).toBe(1);
    expect(byName.json.Resources[0]).not.toHaveProperty('members');

    const added = await scim('PATCH', `/scim/v2/Groups/${id}`, entra.entraAddMember(member));
    expect(added.status).toBe(204);
    expect(added.json).toBeUndefined();
    expect((await scim('GET', `/scim/v2/Groups/${id}`)).json.members).toEqual([{ value: member, $ref: `${SCIM_BASE_URL}/Users/${member}` }]);
    expect((await scim('GET', `/scim/v2/Groups/${id}?${entra.entraGetGroupQuery}`)).json).not.toHaveProperty('members');

    expect((await scim('PATCH', `/scim/v2/Groups/${id}`, entra.entraRemoveMember(member))).status).toBe(204);
    expect((await scim('GET', `/scim/v2/Groups/${id}`)).json.members).toEqual([]);

    expect((await scim('PATCH', `/scim/v2/Groups/${id}`, entra.entraUpdateGroupName)).status).toBe(204);
    expect((await scim('GET', `/scim/v2/Groups/${id}`)).json.displayName).toBe('1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName');

    expect((await scim('DELETE', `/scim/v2/Groups/${id}`)).status).toBe(204);
    expect((await scim('GET', `/scim/v2/Groups/${id}`)).status).toBe(404);
  });
});

describe("Okta's documented sequence (developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20)", () => {
  it('checks, creates, imports, updates with PUT and deactivates a user', async () => {
    const directory = new InMemoryScimDirectory();
    const scim = scimClient(directory);

    // "Determine if the User already exists": an empty ListResponse.
    expect((await scim('GET', okta.oktaFindUserTarget)).json).toMatchObject({ totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });

    // "Create the User": the created user, without the password Okta sent.
    const created = await scim('POST', '/scim/v2/Users', okta.oktaCreateUser);
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ userName: 'test.user@okta.local', displayName: 'Test User', externalId: '00ujl29u0le5T6Aj10h7', active: true });
    expect(JSON.stringify(created.json)).not.toContain(okta.oktaCreateUser.password);
    const id: string = created.json.id;

    expect((await scim('GET', okta.oktaFindUserTarget)).json.Resources[0].id).toBe(id);
    const imported = await scim('GET', okta.oktaListUsersTarget);
    expect(imported.json).toMatchObject({ totalResults: 1, startIndex: 1, itemsPerPage: 1 });

    // "Update a specific User (PUT)": Okta reads the user, then PUTs it whole (no externalId, no displayName).
    expect((await scim('GET', `/scim/v2/Users/${id}`)).status).toBe(200);
    const replaced = await scim('PUT', `/scim/v2/Users/${id}`, okta.oktaReplaceUser(id));
    expect(replaced.status).toBe(200);
    expect(replaced.json).toMatchObject({ id, displayName: 'Another User', externalId: '00ujl29u0le5T6Aj10h7', active: true });

    // "Update a specific User (PATCH)": deactivation.
    const deactivated = await scim('PATCH', `/scim/v2/Users/${id}`, okta.oktaDeactivateUser);
    expect(deactivated.status).toBe(200);
    expect(deactivated.json.active).toBe(false);
    expect(directory.users.get(deactivated.json.id)?.person.active).toBe(false);

    // Okta never sends DELETE for users; a second create of the same userName is the documented 409.
    expect((await scim('POST', '/scim/v2/Users', okta.oktaCreateUser)).status).toBe(409);
  });

  it('pushes a group, renames it, changes and replaces its membership and deletes it', async () => {
    const directory = new InMemoryScimDirectory();
    const scim = scimClient(directory);
    const alice: string = (await scim('POST', '/scim/v2/Users', okta.oktaCreateUser)).json.id;
    const bob: string = (await scim('POST', '/scim/v2/Users', { ...okta.oktaCreateUser, userName: 'bob@okta.local', externalId: '00ubob' })).json.id;

    const created = await scim('POST', '/scim/v2/Groups', okta.oktaCreateGroup);
    expect(created.status).toBe(201);
    const id: string = created.json.id;
    expect(created.json).toMatchObject({ id, displayName: 'Test SCIMv2', members: [], meta: { resourceType: 'Group' } });
    expect((await scim('GET', okta.oktaListGroupsTarget)).json.totalResults).toBe(1);

    expect((await scim('PATCH', `/scim/v2/Groups/${id}`, okta.oktaRenameGroup(id))).status).toBe(204);

    await scim('PATCH', `/scim/v2/Groups/${id}`, entra.entraAddMember(bob));
    expect((await scim('PATCH', `/scim/v2/Groups/${id}`, okta.oktaUpdateMembership(bob, alice))).status).toBe(204);
    expect((await scim('GET', `/scim/v2/Groups/${id}`)).json.members.map((member: { value: string }) => member.value)).toEqual([alice]);

    expect((await scim('PATCH', `/scim/v2/Groups/${id}`, okta.oktaReplaceMembers(alice, bob))).status).toBe(204);
    expect((await scim('GET', `/scim/v2/Groups/${id}`)).json.members.map((member: { value: string }) => member.value)).toEqual([alice, bob]);

    expect((await scim('DELETE', `/scim/v2/Groups/${id}`)).status).toBe(204);
    expect((await scim('GET', okta.oktaListGroupsTarget)).json.totalResults).toBe(0);
  });
});
