/*
 * What the SCIM layer needs from the relay's store: the narrow interface the request handler calls. The
 * handler has already parsed, validated and mapped the request (a DirectoryPerson for users, a ScimGroup
 * for groups), so an implementation stores and finds, and renders nothing. It runs each method as one
 * transaction with its audit events (source: the SCIM token's name), like every RelayStore mutation.
 */
import type { UserId } from '../../shared/ids';
import type { DirectoryPerson } from '../directory/DirectoryPerson';

/** A SCIM group's id as the store assigns it (a care team's or department's id); opaque to the SCIM layer. */
export type ScimGroupId = string;

export interface ScimUserRecord {
  readonly id: UserId;
  readonly person: DirectoryPerson;
  readonly created: Date;
  readonly lastModified: Date;
}

/** A care team or department as a SCIM Group: members are account ids. */
export interface ScimGroup {
  readonly displayName: string;
  readonly externalId: string | null;
  readonly members: readonly UserId[];
}

export interface ScimGroupRecord {
  readonly id: ScimGroupId;
  readonly group: ScimGroup;
  readonly created: Date;
  readonly lastModified: Date;
}

/**
 * One `attribute eq value` condition. `userName` values arrive lower-cased (usernames are stored so);
 * `displayName` compares without regard to case (RFC 7643: caseExact false), `externalId` and `id` exactly.
 * `members` (groups only): the group has this account among its members.
 */
export interface EqualityCondition<Attribute extends string> {
  readonly attribute: Attribute;
  readonly value: string;
}

export type UserFilterAttribute = 'id' | 'userName' | 'externalId' | 'displayName';
export type GroupFilterAttribute = 'id' | 'externalId' | 'displayName' | 'members';

/** Every condition must hold (`and`); no conditions: every resource. */
export type DirectoryFilter<Attribute extends string> = readonly EqualityCondition<Attribute>[];

/** `startIndex` is 1-based (RFC 7644 section 3.4.2.4); `count` 0 asks for totalResults only. */
export interface ScimPage {
  readonly startIndex: number;
  readonly count: number;
}

/**
 * One page of a listing. The order must be stable between requests whatever the page (Okta pages through
 * with startIndex += 100 and requires it), e.g. by creation time then id.
 */
export interface ScimPageResult<Resource> {
  readonly totalResults: number;
  readonly resources: readonly Resource[];
}

/**
 * A group PATCH, already resolved: applied at once, members added and removed by id. Adding a member already
 * in the group, or removing one who is not, changes nothing (identity providers repeat themselves).
 */
export interface ScimGroupChange {
  readonly displayName?: string;
  readonly externalId?: string | null;
  /** Present: the whole membership becomes exactly this list (applied before adds and removes). */
  readonly replaceMembers?: readonly UserId[];
  readonly addMembers: readonly UserId[];
  readonly removeMembers: readonly UserId[];
}

/**
 * Implemented on the relay's store. Errors the handler turns into SCIM responses: throw
 * `scimUniquenessConflict(detail)` (ScimError.ts) when another account already has the userName or
 * externalId, or another group the displayName, and `badScimRequest('invalidValue', detail)` for a value the
 * store refuses (a username its rules do not allow, a member id it has no account for). Anything else
 * thrown is a 500 that names nothing.
 */
export interface ScimDirectory {
  findUsers(filter: DirectoryFilter<UserFilterAttribute>, page: ScimPage): Promise<ScimPageResult<ScimUserRecord>>;
  /** null: no account this SCIM client may see has this id (never created, or deleted through SCIM). */
  getUser(id: UserId): Promise<ScimUserRecord | null>;
  createUser(person: DirectoryPerson): Promise<ScimUserRecord>;
  /**
   * Replaces the account's directory data (PUT, and PATCH after the handler applied it). `active: false`
   * cuts off every device of the account in the same transaction; `true` again lets it sign in. null: no
   * such account.
   */
  replaceUser(id: UserId, person: DirectoryPerson): Promise<ScimUserRecord | null>;
  /**
   * DELETE: the account is deactivated (every device cut off) and no longer visible to SCIM (getUser and
   * findUsers stop returning it); the store may keep it, inactive, for its audit trail. false: no such account.
   */
  deleteUser(id: UserId): Promise<boolean>;

  findGroups(filter: DirectoryFilter<GroupFilterAttribute>, page: ScimPage): Promise<ScimPageResult<ScimGroupRecord>>;
  getGroup(id: ScimGroupId): Promise<ScimGroupRecord | null>;
  createGroup(group: ScimGroup): Promise<ScimGroupRecord>;
  replaceGroup(id: ScimGroupId, group: ScimGroup): Promise<ScimGroupRecord | null>;
  updateGroup(id: ScimGroupId, change: ScimGroupChange): Promise<ScimGroupRecord | null>;
  deleteGroup(id: ScimGroupId): Promise<boolean>;
}
