import { beforeEach, describe, expect, it } from 'vitest';
import { InMemoryScimDirectory } from '../../test/fixtures/scim/inMemoryScimDirectory';
import { SCIM_BASE_URL, scimClient } from '../../test/fixtures/scim/scimClient';
import { entraCreateUser } from '../../test/fixtures/scim/entraIdRequests';
import { oktaCreateUser } from '../../test/fixtures/scim/oktaRequests';
import { routeScimPath } from './scimRequestHandler';
import { CORE_GROUP_SCHEMA, PATCH_OP_SCHEMA } from './scimSchema';

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
let directory: InMemoryScimDirectory;
let scim: ReturnType<typeof scimClient>;

beforeEach(() => {
  directory = new InMemoryScimDirectory();
  scim = scimClient(directory);
});

async function createJane(): Promise<string> {
  const created = await scim('POST', '/scim/v2/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'j.smith@hospital.example', displayName: 'Jane Smith' });
  return created.json.id;
}

describe('SCIM errors (RFC 7644 section 3.12)', () => {
  it('answers malformed JSON, a non-object and a missing body with invalidSyntax, and stores nothing', async () => {
    for (const body of ['{"schemas": [', '[]', '"x"', '']) {
      const reply = await scim('POST', '/scim/v2/Users', body);
      expect(reply.status, body).toBe(400);
      expect(reply.json).toEqual({ schemas: [ERROR_SCHEMA], status: '400', scimType: 'invalidSyntax', detail: expect.any(String) });
      expect(reply.headers['content-type']).toBe('application/scim+json');
    }
    expect(directory.writes).toEqual([]);
  });

  it('answers a user without the User schema, or a PATCH without the PatchOp schema, with invalidSyntax', async () => {
    expect((await scim('POST', '/scim/v2/Users', { ...entraCreateUser, schemas: [CORE_GROUP_SCHEMA] })).json.scimType).toBe('invalidSyntax');
    const id = await createJane();
    const patch = await scim('PATCH', `/scim/v2/Users/${id}`, { Operations: [{ op: 'replace', path: 'active', value: false }] });
    expect(patch.json.scimType).toBe('invalidSyntax');
    expect(directory.writes).toEqual(['createUser']);
  });

  it('answers a PATCH of an unknown attribute with invalidPath and changes nothing', async () => {
    const id = await createJane();
    const reply = await scim('PATCH', `/scim/v2/Users/${id}`, { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: false }, { op: 'replace', path: 'shoeSize', value: '5' }] });
    expect(reply.status).toBe(400);
    expect(reply.json.scimType).toBe('invalidPath');
    expect((await scim('GET', `/scim/v2/Users/${id}`)).json.active).toBe(true);
    expect(directory.writes).toEqual(['createUser']);
  });

  it('answers a change of id with mutability', async () => {
    const id = await createJane();
    const put = await scim('PUT', `/scim/v2/Users/${id}`, { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], id: '00000000-0000-4000-8000-000000000000', userName: 'j.smith@hospital.example' });
    expect(put.json).toMatchObject({ status: '400', scimType: 'mutability' });
    const patch = await scim('PATCH', `/scim/v2/Users/${id}`, { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'replace', path: 'id', value: 'x' }] });
    expect(patch.json.scimType).toBe('mutability');
  });

  it('answers the uniqueness conflict the store reports with 409 uniqueness, as Okta expects', async () => {
    // Okta SCIM 2.0 reference, "Create the User": an existing user is answered with 409 Conflict.
    expect((await scim('POST', '/scim/v2/Users', oktaCreateUser)).status).toBe(201);
    const again = await scim('POST', '/scim/v2/Users', { ...oktaCreateUser, userName: 'TEST.USER@okta.local', externalId: 'other' });
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ schemas: [ERROR_SCHEMA], status: '409', scimType: 'uniqueness' });
  });

  it('answers an unreadable filter with invalidFilter and bad paging numbers with invalidValue', async () => {
    expect((await scim('GET', '/scim/v2/Users?filter=userName%20sw%20%22j%22')).json.scimType).toBe('invalidFilter');
    expect((await scim('GET', '/scim/v2/Users?count=ten')).json.scimType).toBe('invalidValue');
  });

  it('answers unknown ids, paths and resources with 404 and a wrong method with 405', async () => {
    for (const url of ['/scim/v2/Users/48af03ac28ad4fb88478', '/scim/v2/Users/6f1c2a4e-0b7d-4c1e-9a53-2d8e7f6a5b41', '/scim/v2/Groups/nope', '/scim/v2/Bulk', '/scim/v2/Users/a/b', '/api/Users', '/scim/v2/Schemas/urn:x']) {
      const reply = await scim('GET', url);
      expect(reply.status, url).toBe(404);
      expect(reply.json.schemas).toEqual([ERROR_SCHEMA]);
    }
    expect((await scim('DELETE', '/scim/v2/Users/6f1c2a4e-0b7d-4c1e-9a53-2d8e7f6a5b41')).status).toBe(404);
    const wrong = await scim('DELETE', '/scim/v2/Users');
    expect(wrong.status).toBe(405);
    expect(wrong.headers['allow']).toBe('GET, POST');
  });

  it('answers a store failure with a 500 that names nothing, and hands the error to the caller', async () => {
    const failures: unknown[] = [];
    directory.createUser = async () => {
      throw new Error('database is locked: INSERT INTO accounts (j.smith@hospital.example)');
    };
    const reply = await scimClient(directory, { onUnexpectedError: (error) => failures.push(error) })('POST', '/scim/v2/Users', entraCreateUser);
    expect(reply.status).toBe(500);
    expect(reply.json.detail).not.toMatch(/database|smith/);
    expect(failures).toHaveLength(1);
  });
});

describe('what error details and stored data do not carry', () => {
  it('names no value from a filter or a PATCH path in the detail', async () => {
    const id = await createJane();
    const filter = await scim('GET', `/scim/v2/Users?filter=${encodeURIComponent('userName eq "jane.smith@hospital.example')}`);
    expect(filter.json.scimType).toBe('invalidFilter');
    expect(filter.json.detail).not.toContain('jane');
    const path = await scim('PATCH', `/scim/v2/Users/${id}`, { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'replace', path: 'nickNames[value eq "Janey"]', value: 'x' }] });
    expect(path.json.scimType).toBe('invalidPath');
    expect(path.json.detail).not.toContain('Janey');
  });

  it('takes a __proto__ key in an attribute it drops as data, changing no prototype', async () => {
    const body = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a","emails":[{"__proto__":{"polluted":true},"value":"a@b.example"}]}`;
    expect((await scim('POST', '/scim/v2/Users', body)).status).toBe(201);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('listing', () => {
  it('pages by startIndex and count with a stable order and integer numbers', async () => {
    for (const name of ['a', 'b', 'c', 'd', 'e']) await scim('POST', '/scim/v2/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: name });
    const page = await scim('GET', '/scim/v2/Users?startIndex=2&count=2');
    expect(page.json).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 5, startIndex: 2, itemsPerPage: 2 });
    expect(page.json.Resources.map((user: { userName: string }) => user.userName)).toEqual(['b', 'c']);
    expect((await scim('GET', '/scim/v2/Users?count=0')).json).toMatchObject({ totalResults: 5, itemsPerPage: 0, Resources: [] });
    expect((await scim('GET', '/scim/v2/Users?startIndex=0&count=1')).json).toMatchObject({ startIndex: 1, itemsPerPage: 1 });
  });
});

describe('discovery', () => {
  it('serves ServiceProviderConfig with PATCH and filtering on', async () => {
    const reply = await scim('GET', '/scim/v2/ServiceProviderConfig');
    expect(reply.json).toMatchObject({ patch: { supported: true }, filter: { supported: true, maxResults: 200 }, bulk: { supported: false }, etag: { supported: false } });
    expect(reply.json.authenticationSchemes[0].type).toBe('oauthbearertoken');
  });

  it('lists the schemas with the attributes Rounds keeps, and each by its URN', async () => {
    const list = await scim('GET', '/scim/v2/Schemas');
    expect(list.json.totalResults).toBe(3);
    const user = list.json.Resources.find((schema: { id: string }) => schema.id === 'urn:ietf:params:scim:schemas:core:2.0:User');
    const names = user.attributes.map((attribute: { name: string }) => attribute.name);
    expect(names).toEqual(expect.arrayContaining(['userName', 'displayName', 'title', 'active', 'phoneNumbers', 'externalId']));
    expect(names).not.toContain('password');
    expect(names).not.toContain('emails');
    const enterprise = await scim('GET', '/scim/v2/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User');
    expect(enterprise.json.attributes.map((attribute: { name: string }) => attribute.name)).toEqual(['department']);
    expect(enterprise.json.meta.location).toBe(`${SCIM_BASE_URL}/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`);
  });

  it('lists the User and Group resource types', async () => {
    const list = await scim('GET', '/scim/v2/ResourceTypes');
    expect(list.json.Resources.map((type: { endpoint: string }) => type.endpoint)).toEqual(['/Users', '/Groups']);
    expect((await scim('GET', '/scim/v2/ResourceTypes/Group')).json.schema).toBe(CORE_GROUP_SCHEMA);
  });
});

describe('routing', () => {
  it('finds collections in any case, with a trailing slash, under another mount path', () => {
    expect(routeScimPath('/scim/v2/users/')).toEqual({ kind: 'Users', id: undefined });
    expect(routeScimPath('/scim/v2/Groups/a%20b')).toEqual({ kind: 'Groups', id: 'a b' });
    expect(routeScimPath('/relay/scim/Users/x', '/relay/scim')).toEqual({ kind: 'Users', id: 'x' });
    expect(() => routeScimPath('/scim/v2/Users/%E0%A4%A')).toThrow();
  });
});
