/*
 * SCIM Group <-> ScimGroup (RFC 7643 section 4.2): a care team or department, its members by account id.
 * Entra ID creates groups without members and adds them by PATCH; Okta pushes a group with `members: []`
 * and then PATCHes members in and out. Members are always accounts (nested groups are refused).
 */
import { UserIdSchema, type UserId } from '../../shared/ids';
import { badScimRequest } from './ScimError';
import type { ScimGroup, ScimGroupRecord } from './ScimDirectory';
import { isScimObject, type ScimJson, type ScimObject } from './scimRepresentation';
import { readString } from './scimUserMapping';
import { CORE_GROUP_SCHEMA } from './scimSchema';

/** A member's account id (its `value`); a member of `type` "Group" is refused, Rounds has no nested groups. */
export function readMemberId(member: ScimJson): UserId {
  if (!isScimObject(member)) throw badScimRequest('invalidValue', 'Each member must be an object with a value.');
  const type = member['type'];
  if (typeof type === 'string' && type.toLowerCase() === 'group') throw badScimRequest('invalidValue', 'Groups cannot be members of groups here.');
  const parsed = UserIdSchema.safeParse(member['value']);
  if (!parsed.success) throw badScimRequest('invalidValue', 'A member value is not the id of a Rounds account.');
  return parsed.data;
}

/** The member ids of a `members` value (a list, or one member object), without repeats. */
export function readMemberIds(value: ScimJson | undefined): UserId[] {
  if (value === undefined || value === null) return [];
  const members = Array.isArray(value) ? value : [value];
  return [...new Set(members.map(readMemberId))];
}

export function groupFromScim(resource: ScimObject): ScimGroup {
  const displayName = readString(resource['displayName'], 'displayName');
  if (displayName === null) throw badScimRequest('invalidValue', 'displayName is required.');
  return {
    displayName,
    externalId: readString(resource['externalId'], 'externalId'),
    members: readMemberIds(resource['members']),
  };
}

/** The group as a canonical SCIM Group without meta: what PATCH operations apply to. */
export function scimGroupAttributes(id: string, group: ScimGroup, baseUrl: string): ScimObject {
  const attributes: ScimObject = {
    id,
    displayName: group.displayName,
    members: group.members.map((member) => ({ value: member, $ref: `${baseUrl}/Users/${member}` })),
  };
  if (group.externalId !== null) attributes['externalId'] = group.externalId;
  return attributes;
}

/** `includeMembers` false for `excludedAttributes=members`, which Entra ID sends on every group read. */
export function renderScimGroup(record: ScimGroupRecord, baseUrl: string, includeMembers: boolean): ScimObject {
  const { members, ...attributes } = scimGroupAttributes(record.id, record.group, baseUrl);
  return {
    schemas: [CORE_GROUP_SCHEMA],
    ...attributes,
    ...(includeMembers ? { members } : {}),
    meta: {
      resourceType: 'Group',
      created: record.created.toISOString(),
      lastModified: record.lastModified.toISOString(),
      location: `${baseUrl}/Groups/${record.id}`,
    },
  };
}
