/*
 * A group PATCH turned into one ScimGroupChange for the store, without reading the group's members first:
 * Entra ID and Okta add and remove members one PATCH at a time, and care teams and departments can be
 * large. Handles the member shapes both document:
 * - add `members` with a list of {value} (both; Entra ID adds "$ref": null);
 * - remove `members[value eq "…"]` (Okta; Entra ID with aadOptscim062020);
 * - remove `members` with a list of {value}: Entra ID without the flag ("Known issues … SCIM 2.0 protocol
 *   compliance", Requests to remove a group member) - only the listed members leave, not all of them;
 * - replace `members` with the whole list (Okta's "full push of the membership").
 */
import type { UserId } from '../../shared/ids';
import { UserIdSchema } from '../../shared/ids';
import type { Filter } from 'scim2-parse-filter';
import { badScimRequest } from './ScimError';
import type { ScimGroupChange } from './ScimDirectory';
import { readMemberIds } from './scimGroupMapping';
import { describePath } from './scimPatchPath';
import type { PatchOperation } from './scimPatchRequest';
import { readString } from './scimUserMapping';

/** The ids a `members[...]` filter names: `value eq "id"`, alone or joined by `or`. */
function memberIdsOf(filter: Filter, pathText: string): UserId[] {
  if (filter.op === 'or') return filter.filters.flatMap((inner) => memberIdsOf(inner, pathText));
  if (filter.op === 'eq' && filter.attrPath.toLowerCase() === 'value') {
    const parsed = UserIdSchema.safeParse(filter.compValue);
    return parsed.success ? [parsed.data] : [];
  }
  throw badScimRequest('invalidFilter', `"${describePath(pathText)}": members are selected by value eq "id" (joined by or).`);
}

class MembershipChange {
  #replace: Set<UserId> | undefined;
  readonly #add = new Set<UserId>();
  readonly #remove = new Set<UserId>();

  replaceAll(ids: readonly UserId[]): void {
    this.#replace = new Set(ids);
    this.#add.clear();
    this.#remove.clear();
  }

  add(ids: readonly UserId[]): void {
    for (const id of ids) {
      if (this.#replace !== undefined) this.#replace.add(id);
      else {
        this.#remove.delete(id);
        this.#add.add(id);
      }
    }
  }

  remove(ids: readonly UserId[]): void {
    for (const id of ids) {
      if (this.#replace !== undefined) this.#replace.delete(id);
      else {
        this.#add.delete(id);
        this.#remove.add(id);
      }
    }
  }

  toChange(): Pick<ScimGroupChange, 'replaceMembers' | 'addMembers' | 'removeMembers'> {
    return {
      ...(this.#replace === undefined ? {} : { replaceMembers: [...this.#replace] }),
      addMembers: [...this.#add],
      removeMembers: [...this.#remove],
    };
  }
}

function applyMembers(members: MembershipChange, { op, path, value }: PatchOperation): void {
  if (path.valueFilter !== null) {
    if (op !== 'remove') throw badScimRequest('invalidPath', `"${describePath(path.text)}": members are added with the path "members".`);
    members.remove(memberIdsOf(path.valueFilter, path.text));
    return;
  }
  if (path.subAttribute !== null) throw badScimRequest('mutability', `"${describePath(path.text)}": a member's sub-attributes cannot be changed.`);
  const ids = readMemberIds(value);
  if (op === 'add') members.add(ids);
  else if (op === 'replace') members.replaceAll(ids);
  else if (value === undefined || value === null) members.replaceAll([]);
  else members.remove(ids);
}

/** `groupId` is the group's own id: Okta repeats it in path-less replaces, which is no change. */
export function groupChangeFromPatch(groupId: string, operations: readonly PatchOperation[]): ScimGroupChange {
  const members = new MembershipChange();
  let displayName: string | undefined;
  let externalId: string | null | undefined;
  for (const operation of operations) {
    const { op, path, value } = operation;
    switch (path.attribute.name) {
      case 'members':
        applyMembers(members, operation);
        break;
      case 'displayName': {
        const name = op === 'remove' ? null : readString(value, 'displayName');
        if (name === null) throw badScimRequest('invalidValue', 'displayName is required.');
        displayName = name;
        break;
      }
      case 'externalId':
        externalId = op === 'remove' ? null : readString(value, 'externalId');
        break;
      case 'id':
        if (op === 'remove' || value !== groupId) throw badScimRequest('mutability', 'id cannot be changed.');
        break;
      default:
        throw badScimRequest('invalidPath', `"${describePath(path.text)}" cannot be changed on a group.`);
    }
  }
  return {
    ...(displayName === undefined ? {} : { displayName }),
    ...(externalId === undefined ? {} : { externalId }),
    ...members.toChange(),
  };
}
