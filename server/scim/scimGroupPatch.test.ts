import { describe, expect, it } from 'vitest';
import { UserIdSchema } from '../../shared/ids';
import {
  entraAddMember,
  entraRemoveMember,
  entraRemoveMemberWithFlag,
  entraRemoveMemberWithoutFlag,
  entraUpdateGroupName,
} from '../../test/fixtures/scim/entraIdRequests';
import { oktaRenameGroup, oktaReplaceMembers, oktaUpdateMembership } from '../../test/fixtures/scim/oktaRequests';
import { ScimError } from './ScimError';
import type { ScimGroupChange } from './ScimDirectory';
import { groupChangeFromPatch } from './scimGroupPatch';
import { readPatchOperations } from './scimPatchRequest';
import type { ScimObject } from './scimRepresentation';
import { GROUP_SHAPE, PATCH_OP_SCHEMA } from './scimSchema';

const GROUP_ID = 'abf4dd94-a4c0-4f67-89c9-76b03340cb9b';
const ALICE = UserIdSchema.parse('23a35c27-23d3-4c03-b4c5-6443c09e7173');
const BOB = UserIdSchema.parse('89bb1940-b905-4575-9e7f-6f887cfb368e');

function change(body: object): ScimGroupChange {
  return groupChangeFromPatch(GROUP_ID, readPatchOperations(GROUP_SHAPE, body as ScimObject));
}

function operations(...list: object[]): object {
  return { schemas: [PATCH_OP_SCHEMA], Operations: list };
}

function refusal(body: object): string | null {
  try {
    change(body);
  } catch (error) {
    if (error instanceof ScimError) return error.scimType;
    throw error;
  }
  throw new Error('accepted');
}

describe("Entra ID's group PATCH requests", () => {
  it('adds a member sent with "$ref": null', () => {
    // Entra ID guide, Update Group [Add Members].
    expect(change(entraAddMember(ALICE))).toEqual({ addMembers: [ALICE], removeMembers: [] });
  });

  it('removes only the members listed in the value of a remove of "members"', () => {
    // Entra ID guide, Update Group [Remove Members]; "Known issues …", remove a group member, Without feature flag.
    expect(change(entraRemoveMember(ALICE))).toEqual({ addMembers: [], removeMembers: [ALICE] });
    expect(change(entraRemoveMemberWithoutFlag(BOB))).toEqual({ addMembers: [], removeMembers: [BOB] });
  });

  it('removes a member named by a value filter', () => {
    // "Known issues …", Requests made to remove a group member, With feature flag.
    expect(change(entraRemoveMemberWithFlag(BOB))).toEqual({ addMembers: [], removeMembers: [BOB] });
  });

  it('renames', () => {
    // Entra ID guide, Update Group [Non-member attributes].
    expect(change(entraUpdateGroupName)).toEqual({ displayName: '1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName', addMembers: [], removeMembers: [] });
  });
});

describe("Okta's group PATCH requests", () => {
  it('renames with a path-less value that repeats the group id', () => {
    // Okta SCIM 2.0 reference, "Update a specific Group name".
    expect(change(oktaRenameGroup(GROUP_ID))).toEqual({ displayName: 'Test SCIMv2', addMembers: [], removeMembers: [] });
  });

  it('removes one member by filter and adds another in one request', () => {
    // Okta SCIM 2.0 reference, "Update specific Group membership".
    expect(change(oktaUpdateMembership(BOB, ALICE))).toEqual({ addMembers: [ALICE], removeMembers: [BOB] });
  });

  it('replaces the whole membership', () => {
    // Okta SCIM 2.0 reference, "Update specific Group membership", the full push with replace.
    expect(change(oktaReplaceMembers(ALICE, BOB))).toEqual({ replaceMembers: [ALICE, BOB], addMembers: [], removeMembers: [] });
  });
});

describe('group PATCH semantics and refusals', () => {
  it('folds operations in order: a member added then removed is removed, a remove of all members empties the group', () => {
    expect(change(operations({ op: 'add', path: 'members', value: [{ value: ALICE }] }, { op: 'remove', path: `members[value eq "${ALICE}"]` }))).toEqual({
      addMembers: [],
      removeMembers: [ALICE],
    });
    expect(change(operations({ op: 'remove', path: 'members' }, { op: 'add', path: 'members', value: [{ value: BOB }] }))).toEqual({
      replaceMembers: [BOB],
      addMembers: [],
      removeMembers: [],
    });
  });

  it('refuses a change of id, members that are no accounts or are groups, and attributes groups do not have', () => {
    expect(refusal(oktaRenameGroup('another-group'))).toBe('mutability');
    expect(refusal(entraAddMember('f648f8d5ea4e4cd38e9c'))).toBe('invalidValue');
    expect(refusal(operations({ op: 'add', path: 'members', value: [{ value: ALICE, type: 'Group' }] }))).toBe('invalidValue');
    expect(refusal(operations({ op: 'replace', path: 'userName', value: 'x' }))).toBe('invalidPath');
    expect(refusal(operations({ op: 'remove', path: 'displayName' }))).toBe('invalidValue');
    expect(refusal(operations({ op: 'remove', path: `members[display eq "Alice"]` }))).toBe('invalidFilter');
    expect(refusal(operations({ op: 'replace', path: `members[value eq "${ALICE}"].display`, value: 'x' }))).toBe('invalidPath');
  });
});
