import { describe, expect, it } from 'vitest';
import { ScimError } from './ScimError';
import { MAX_FILTER_LENGTH, parseGroupFilter, parseUserFilter } from './scimFilter';

const USER_ID = '6f1c2a4e-0b7d-4c1e-9a53-2d8e7f6a5b41';

function scimTypeOf(run: () => unknown): string | null | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof ScimError) return error.scimType;
    throw error;
  }
  return undefined;
}

describe('user filters', () => {
  it('reads the userName match Entra ID and Okta send, lower-cased like stored usernames', () => {
    // Entra ID: Get User by query (learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups).
    expect(parseUserFilter('userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee"')).toEqual([
      { attribute: 'userName', value: 'test_user_00aa00aa-bb11-cc22-dd33-44ee44ee44ee' },
    ]);
    // Okta: "Determine if the User already exists" (developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20).
    expect(parseUserFilter('userName eq "test.user@okta.local"')).toEqual([{ attribute: 'userName', value: 'test.user@okta.local' }]);
  });

  it('reads externalId, displayName and id, attribute names and operators in any case, URN-qualified or not', () => {
    expect(parseUserFilter('EXTERNALID EQ "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"')).toEqual([{ attribute: 'externalId', value: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef' }]);
    expect(parseUserFilter('urn:ietf:params:scim:schemas:core:2.0:User:displayName eq "Joy Young"')).toEqual([{ attribute: 'displayName', value: 'Joy Young' }]);
    expect(parseUserFilter(`id eq "${USER_ID}"`)).toEqual([{ attribute: 'id', value: USER_ID }]);
  });

  it('reads conditions joined by and (the other operator Entra ID uses)', () => {
    expect(parseUserFilter('userName eq "A@B.example" and externalId eq "X1"')).toEqual([
      { attribute: 'userName', value: 'a@b.example' },
      { attribute: 'externalId', value: 'X1' },
    ]);
  });

  it("reads Entra ID's documented unquoted value as a string", () => {
    // Entra ID guide, "Example 1. Query the service for a matching user": filter=externalId eq jyoung.
    expect(parseUserFilter('externalId eq jyoung')).toEqual([{ attribute: 'externalId', value: 'jyoung' }]);
  });

  it('keeps quotes escaped inside a value', () => {
    expect(parseUserFilter('displayName eq "Dr \\"Mac\\" Smith"')).toEqual([{ attribute: 'displayName', value: 'Dr "Mac" Smith' }]);
  });

  it('matches nothing, without asking the store, for an id that is no account id', () => {
    expect(parseUserFilter('id eq "48af03ac28ad4fb88478"')).toBeNull();
  });

  it('refuses with invalidFilter what it cannot answer or read', () => {
    for (const filter of [
      'userName co "smith"',
      'userName eq "a" or userName eq "b"',
      'not (userName eq "a")',
      'userName pr',
      'emails[type eq "work"].value eq "a@b.example"',
      'title eq "Charge nurse"',
      'active eq true',
      'userName eq',
      'userName eq "unterminated',
      '(userName eq "a"',
      'userName eq "a" userName',
    ]) {
      expect(scimTypeOf(() => parseUserFilter(filter)), filter).toBe('invalidFilter');
    }
    expect(scimTypeOf(() => parseUserFilter(`userName eq "${'a'.repeat(MAX_FILTER_LENGTH)}"`))).toBe('invalidFilter');
  });
});

describe('group filters', () => {
  it("reads Entra ID's displayName match and a membership question", () => {
    // Entra ID guide, Get Group by displayName.
    expect(parseGroupFilter('displayName eq "displayName"')).toEqual([{ attribute: 'displayName', value: 'displayName' }]);
    expect(parseGroupFilter(`members[value eq "${USER_ID}"]`)).toEqual([{ attribute: 'members', value: USER_ID }]);
    expect(parseGroupFilter(`externalId eq "8aa1a0c0" and members.value eq "${USER_ID}"`)).toEqual([
      { attribute: 'externalId', value: '8aa1a0c0' },
      { attribute: 'members', value: USER_ID },
    ]);
  });

  it('matches nothing for a member id that is no account id, and refuses user attributes', () => {
    expect(parseGroupFilter('members[value eq "f648f8d5ea4e4cd38e9c"]')).toBeNull();
    expect(scimTypeOf(() => parseGroupFilter('userName eq "a"'))).toBe('invalidFilter');
  });
});
