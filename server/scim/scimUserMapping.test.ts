import { describe, expect, it } from 'vitest';
import { UserIdSchema } from '../../shared/ids';
import type { DirectoryPerson } from '../directory/DirectoryPerson';
import { entraCreateUser, entraProvisionJoyYoung } from '../../test/fixtures/scim/entraIdRequests';
import { oktaCreateUser, oktaCreateUserWithoutExternalId } from '../../test/fixtures/scim/oktaRequests';
import { ScimError } from './ScimError';
import { canonicaliseResource, type ScimObject } from './scimRepresentation';
import { ENTERPRISE_USER_SCHEMA, USER_SHAPE } from './scimSchema';
import { NEW_USER_FALLBACKS, personFromScimUser, renderScimUser } from './scimUserMapping';

function personOf(body: object, fallbacks = NEW_USER_FALLBACKS): DirectoryPerson {
  return personFromScimUser(canonicaliseResource(USER_SHAPE, body as ScimObject), fallbacks);
}

function invalidValue(body: object): string {
  try {
    personOf(body);
  } catch (error) {
    if (error instanceof ScimError && error.scimType === 'invalidValue') return error.message;
    throw error;
  }
  throw new Error('accepted');
}

const CORE = ['urn:ietf:params:scim:schemas:core:2.0:User'];

describe('SCIM User to DirectoryPerson', () => {
  it("maps Entra ID's documented create request, the name from name.formatted", () => {
    // Entra ID guide, Create User, Request.
    expect(personOf(entraCreateUser)).toEqual({
      externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
      username: 'test_user_00aa00aa-bb11-cc22-dd33-44ee44ee44ee',
      displayName: 'givenName familyName',
      department: null,
      jobTitle: null,
      contact: null,
      active: true,
    });
  });

  it("maps Entra ID's example with nulls, a top-level department and a mistyped extension URN", () => {
    // Entra ID guide, "Example 2. Provision a user".
    expect(personOf(entraProvisionJoyYoung)).toEqual({
      externalId: 'jyoung',
      username: 'jyoung@testuser.com',
      displayName: 'Joy Young',
      department: null,
      jobTitle: null,
      contact: null,
      active: true,
    });
  });

  it("maps Okta's documented create and keeps nothing of the password it carries", () => {
    // Okta SCIM 2.0 reference, "Create the User".
    const person = personOf(oktaCreateUser);
    expect(person).toMatchObject({ username: 'test.user@okta.local', displayName: 'Test User', externalId: '00ujl29u0le5T6Aj10h7', active: true });
    expect(JSON.stringify(person)).not.toContain(oktaCreateUser.password);
  });

  it('uses the userName as externalId when a create sends none, and keeps the current one on replace', () => {
    // Okta SCIM 2.0 reference, "Create the User" with custom attributes: no externalId.
    expect(personOf(oktaCreateUserWithoutExternalId).externalId).toBe('test.user@okta.local');
    expect(personOf(oktaCreateUserWithoutExternalId, { active: false, externalId: '00ujl29u0le5T6Aj10h7' })).toMatchObject({
      externalId: '00ujl29u0le5T6Aj10h7',
      active: true,
    });
  });

  it('maps title, the enterprise department and the pager before the work number', () => {
    const person = personOf({
      schemas: [...CORE, ENTERPRISE_USER_SCHEMA],
      userName: 'J.Smith@Hospital.example',
      name: { givenName: 'Jane', familyName: 'Smith' },
      title: 'Charge nurse',
      phoneNumbers: [
        { type: 'mobile', value: '+44 7700 900123' },
        { type: 'work', value: 'x4321' },
        { type: 'Pager', value: '0845' },
      ],
      [ENTERPRISE_USER_SCHEMA]: { department: 'Cardiology', employeeNumber: '100009' },
    });
    expect(person).toEqual({
      externalId: 'j.smith@hospital.example',
      username: 'j.smith@hospital.example',
      displayName: 'Jane Smith',
      department: 'Cardiology',
      jobTitle: 'Charge nurse',
      contact: '0845',
      active: true,
    });
  });

  it('reads attribute names in any case and active as a string', () => {
    expect(personOf({ schemas: CORE, USERNAME: 'asmith', DisplayName: 'A Smith', Active: 'False' })).toMatchObject({
      username: 'asmith',
      displayName: 'A Smith',
      active: false,
    });
  });

  it('refuses values it cannot keep, naming the attribute and not the value', () => {
    expect(invalidValue({ schemas: CORE })).toMatch(/userName is required/);
    expect(invalidValue({ schemas: CORE, userName: 42 })).toMatch(/userName must be a string/);
    expect(invalidValue({ schemas: CORE, userName: 'Dr Jane Smith' })).not.toContain('Jane');
    expect(invalidValue({ schemas: CORE, userName: 'a', active: 'maybe' })).toMatch(/active/);
    expect(invalidValue({ schemas: CORE, userName: 'a', displayName: 'Jane\u0000Smith' })).toMatch(/control characters/);
    expect(invalidValue({ schemas: CORE, userName: 'a', title: 'x'.repeat(300) })).toMatch(/longer than/);
    expect(invalidValue({ schemas: CORE, userName: 'a', phoneNumbers: '0845' })).toMatch(/phoneNumbers/);
  });
});

describe('DirectoryPerson to SCIM User', () => {
  it('renders id, schemas, the kept attributes and meta with the location', () => {
    const id = UserIdSchema.parse('6f1c2a4e-0b7d-4c1e-9a53-2d8e7f6a5b41');
    const created = new Date('2026-12-03T08:00:00Z');
    const person: DirectoryPerson = {
      externalId: 'X1',
      username: 'j.smith@hospital.example',
      displayName: 'Jane Smith',
      department: 'Cardiology',
      jobTitle: 'Charge nurse',
      contact: '0845',
      active: false,
    };
    expect(renderScimUser({ id, person, created, lastModified: created }, 'https://relay.example/scim/v2')).toEqual({
      schemas: [...CORE, ENTERPRISE_USER_SCHEMA],
      id,
      externalId: 'X1',
      userName: 'j.smith@hospital.example',
      name: { formatted: 'Jane Smith' },
      displayName: 'Jane Smith',
      title: 'Charge nurse',
      phoneNumbers: [{ value: '0845', type: 'work', primary: true }],
      active: false,
      [ENTERPRISE_USER_SCHEMA]: { department: 'Cardiology' },
      meta: {
        resourceType: 'User',
        created: '2026-12-03T08:00:00.000Z',
        lastModified: '2026-12-03T08:00:00.000Z',
        location: `https://relay.example/scim/v2/Users/${id}`,
      },
    });
  });
});
