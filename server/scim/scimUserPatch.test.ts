import { describe, expect, it } from 'vitest';
import { UserIdSchema } from '../../shared/ids';
import type { DirectoryPerson } from '../directory/DirectoryPerson';
import {
  entraAddManager,
  entraAddNickNameWithoutFlag,
  entraDisableUser,
  entraDisableUserWithFlag,
  entraDisableUserWithoutFlag,
  entraReplaceMultipleWithFlag,
  entraReplaceMultipleWithoutFlag,
  entraReplaceTitleAddEmail,
  entraUpdateMultiValued,
  entraUpdateUserName,
} from '../../test/fixtures/scim/entraIdRequests';
import { oktaDeactivateUser } from '../../test/fixtures/scim/oktaRequests';
import { ScimError } from './ScimError';
import { readPatchOperations } from './scimPatchRequest';
import type { ScimObject } from './scimRepresentation';
import { ENTERPRISE_USER_SCHEMA, PATCH_OP_SCHEMA, USER_SHAPE } from './scimSchema';
import { applyUserPatch } from './scimUserPatch';
import { personFromScimUser, scimUserAttributes } from './scimUserMapping';

const ID = UserIdSchema.parse('6f1c2a4e-0b7d-4c1e-9a53-2d8e7f6a5b41');
const JANE: DirectoryPerson = {
  externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
  username: 'j.smith@hospital.example',
  displayName: 'Jane Smith',
  department: 'Cardiology',
  jobTitle: 'Staff nurse',
  contact: null,
  active: true,
};

function patched(body: object, person: DirectoryPerson = JANE): DirectoryPerson {
  const operations = readPatchOperations(USER_SHAPE, body as ScimObject);
  return personFromScimUser(applyUserPatch(scimUserAttributes(ID, person), operations), person);
}

function operations(...list: unknown[]): object {
  return { schemas: [PATCH_OP_SCHEMA], Operations: list };
}

function refusal(body: object): string | null {
  try {
    patched(body);
  } catch (error) {
    if (error instanceof ScimError && error.status === 400) return error.scimType;
    throw error;
  }
  throw new Error('accepted');
}

describe("Entra ID's PATCH requests", () => {
  it('disables with a boolean, with "False" as a string (no aadOptscim062020 flag) and with lower-case op', () => {
    // Entra ID guide, Disable User; "Known issues … SCIM 2.0 protocol compliance", Requests made to disable users.
    for (const body of [entraDisableUser, entraDisableUserWithoutFlag, entraDisableUserWithFlag]) {
      expect(patched(body)).toEqual({ ...JANE, active: false });
    }
    expect(patched(operations({ op: 'Replace', path: 'active', value: 'True' }), { ...JANE, active: false }).active).toBe(true);
  });

  it('replaces userName, lower-cased', () => {
    // Entra ID guide, Update User [Single-valued properties].
    expect(patched(entraUpdateUserName).username).toBe('5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com');
  });

  it('accepts the work e-mail it does not keep, and a family name alone leaves the whole name as it is', () => {
    // Entra ID guide, Update User [Multi-valued properties].
    expect(patched(entraUpdateMultiValued)).toEqual(JANE);
  });

  it('applies the six operations Entra ID sends without the flag, the employee number ignored', () => {
    // "Known issues …", Requests to replace multiple attributes, Without feature flag.
    expect(patched(entraReplaceMultipleWithoutFlag)).toEqual({ ...JANE, displayName: 'Pvlo', externalId: 'Eqpj' });
  });

  it('expands the path-less value object with dotted and URN keys that Entra ID sends with the flag', () => {
    // "Known issues …", Requests to replace multiple attributes, With feature flag.
    expect(patched(entraReplaceMultipleWithFlag)).toEqual({ ...JANE, displayName: 'Bjfe' });
    expect(patched(operations({ op: 'replace', value: { 'name.givenName': 'Kkom', 'name.familyName': 'Unua', [`${ENTERPRISE_USER_SCHEMA}:department`]: 'Renal' } }))).toEqual({
      ...JANE,
      displayName: 'Kkom Unua',
      department: 'Renal',
    });
    expect(patched(operations({ op: 'Add', value: { [ENTERPRISE_USER_SCHEMA]: { department: 'Oncology' }, title: 'Ward manager' } }))).toEqual({
      ...JANE,
      department: 'Oncology',
      jobTitle: 'Ward manager',
    });
  });

  it('takes a new name.formatted, or a new given and family name, as the display name', () => {
    expect(patched(operations({ op: 'Replace', path: 'name.formatted', value: 'Jane Smith-Jones' })).displayName).toBe('Jane Smith-Jones');
    expect(patched(operations({ op: 'replace', path: 'name', value: { givenName: 'Janet', familyName: 'Smith' } })).displayName).toBe('Janet Smith');
    expect(patched(operations({ op: 'replace', value: { name: { formatted: 'J. Smith' }, displayName: 'Jane Smith' } })).displayName).toBe('Jane Smith');
  });

  it('accepts attributes Rounds does not keep: a nickname, an e-mail added with "Add", a manager as a list', () => {
    // "Known issues …", Requests made to add a single-value string attribute, Without feature flag.
    expect(patched(entraAddNickNameWithoutFlag)).toEqual(JANE);
    // Microsoft Q&A 1684621: "Replace" title and "Add" emails[type eq "work"].value from a tenant.
    expect(patched(entraReplaceTitleAddEmail)).toEqual({ ...JANE, jobTitle: 'tester' });
    // Entra ID guide, "Example 5. … update a user".
    expect(patched(entraAddManager('00aa00aa-bb11-cc22-dd33-44ee44ee44ee'))).toEqual(JANE);
  });

  it('sets, changes and removes the work number through a filtered path', () => {
    const withWork = patched(operations({ op: 'Add', path: 'phoneNumbers[type eq "work"].value', value: 'x4321' }));
    expect(withWork.contact).toBe('x4321');
    expect(patched(operations({ op: 'Replace', path: 'phoneNumbers[type eq "work"].value', value: 'x5555' }), withWork).contact).toBe('x5555');
    expect(patched(operations({ op: 'Remove', path: 'phoneNumbers[type eq "work"]' }), withWork).contact).toBeNull();
    expect(patched(operations({ op: 'Add', path: 'phoneNumbers', value: [{ type: 'pager', value: '0845' }] }), withWork).contact).toBe('0845');
    expect(patched(operations({ op: 'replace', path: 'phoneNumbers[type eq "pager"]', value: { Value: '0846' } })).contact).toBe('0846');
    expect(refusal(operations({ op: 'replace', path: 'phoneNumbers[type eq "work"]', value: 'x4321' }))).toBe('invalidValue');
    expect(refusal(operations({ op: 'replace', path: 'phoneNumbers[type ne "work"].value', value: 'x4321' }))).toBe('noTarget');
  });
});

describe("Okta's PATCH requests", () => {
  it('deactivates with a path-less replace of active', () => {
    // Okta SCIM 2.0 reference, "Update a specific User (PATCH)".
    expect(patched(oktaDeactivateUser)).toEqual({ ...JANE, active: false });
  });
});

describe('PATCH requests refused', () => {
  it('refuses unknown attributes, malformed paths and filters on single values with invalidPath', () => {
    expect(refusal(operations({ op: 'replace', path: 'favouriteColour', value: 'blue' }))).toBe('invalidPath');
    expect(refusal(operations({ op: 'replace', value: { favouriteColour: 'blue' } }))).toBe('invalidPath');
    expect(refusal(operations({ op: 'replace', path: 'name.nickname', value: 'x' }))).toBe('invalidPath');
    expect(refusal(operations({ op: 'replace', path: 'urn:example:custom:2.0:User:tag', value: 'x' }))).toBe('invalidPath');
    expect(refusal(operations({ op: 'replace', path: 'emails[type eq ].value', value: 'x' }))).toBe('invalidPath');
    expect(refusal(operations({ op: 'replace', path: 'title[value eq "x"]', value: 'x' }))).toBe('invalidPath');
  });

  it('refuses a change of id or of the read-only groups with mutability, and keeps the same id', () => {
    expect(refusal(operations({ op: 'replace', path: 'id', value: '00000000-0000-4000-8000-000000000000' }))).toBe('mutability');
    expect(refusal(operations({ op: 'add', path: 'groups', value: [{ value: 'g1' }] }))).toBe('mutability');
    expect(patched(operations({ op: 'replace', value: { id: ID, title: 'Matron' } })).jobTitle).toBe('Matron');
  });

  it('refuses bodies that are not PatchOp requests with invalidSyntax, a remove without path with noTarget', () => {
    expect(refusal({ Operations: [{ op: 'replace', path: 'active', value: false }] })).toBe('invalidSyntax');
    expect(refusal({ schemas: [PATCH_OP_SCHEMA] })).toBe('invalidSyntax');
    expect(refusal({ schemas: [PATCH_OP_SCHEMA], Operations: [] })).toBe('invalidSyntax');
    expect(refusal(operations({ op: 'move', path: 'title', value: 'x' }))).toBe('invalidSyntax');
    expect(refusal(operations('replace'))).toBe('invalidSyntax');
    expect(refusal(operations({ op: 'remove' }))).toBe('noTarget');
  });

  it('refuses values of the wrong type and a removed userName with invalidValue', () => {
    expect(refusal(operations({ op: 'replace', value: 'false' }))).toBe('invalidValue');
    expect(refusal(operations({ op: 'replace', path: 'active', value: 'no' }))).toBe('invalidValue');
    expect(refusal(operations({ op: 'replace', path: 'displayName', value: { first: 'a' } }))).toBe('invalidValue');
    expect(refusal(operations({ op: 'remove', path: 'userName' }))).toBe('invalidValue');
    expect(refusal(operations({ op: 'add', path: 'title' }))).toBe('invalidValue');
  });
});
