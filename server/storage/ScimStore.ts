/*
 * What the relay keeps for SCIM provisioning (issue 18), beside the accounts themselves: the bearer tokens
 * identity providers authenticate with (only their SHA-256: a token is shown once, when made), which
 * accounts SCIM deleted (deactivated, kept for the audit trail, and no longer shown to SCIM), and the
 * groups SCIM pushes (care teams and departments, members by account id). Every mutation stores its audit
 * records in the same transaction, as RelayStore's do. Groups do not (yet) change the app's care teams.
 */
import type { UserId } from '../../shared/ids';
import type { AuditEvent } from '../audit/AuditRecord';
import type { ProvisioningSource } from '../directory/DirectoryPerson';
import type { RoleGroupMap } from '../roles/directoryRoleHolders';
import type { UserRecord } from './RelayStore';

export interface ScimTokenRecord {
  /** The name the admin gave it; SCIM's changes are audited as `scim:<name>`. Unique, revoked tokens included. */
  readonly name: string;
  readonly createdAt: number;
  readonly revokedAt: number | null;
  /** From then on the token is refused (401, audited): every token has one (scimTokens.ts, SCIM_TOKEN_MAX_DAYS). */
  readonly expiresAt: number;
  /**
   * Whose groups it sees and changes: its own name, or the source of the token it replaced (`scim token create
   * --replaces`), so a rotated token keeps its provider's groups. Groups of other sources are absent to it.
   */
  readonly source: string;
}

/**
 * Conditions that must all hold (none: every account SCIM may see). SCIM sees accounts of the role
 * clinician that it has not deleted; `externalId` matches a SCIM-provisioned account's externalId, and
 * any other account's username (the externalId SCIM is shown for it); `displayName` ignores case.
 */
export interface ScimUserQuery {
  readonly ids?: readonly UserId[];
  readonly usernames?: readonly string[];
  readonly externalIds?: readonly string[];
  readonly displayNames?: readonly string[];
}

/** `offset` from 0; `limit` 0 counts only. In creation order, then id: the same order whatever the page. */
export interface ScimSlice {
  readonly offset: number;
  readonly limit: number;
}

export interface ScimStoredGroup {
  readonly id: string;
  readonly displayName: string;
  readonly externalId: string | null;
  /** Account ids, in the order they joined. */
  readonly members: readonly UserId[];
  readonly createdAt: number;
  readonly lastModifiedAt: number;
}

/**
 * Conditions that must all hold; `displayNames` ignore case; `members`: the group has each of these accounts;
 * `owner`: the group belongs to this token source (absent: every source's, for the relay's own role mapping).
 */
export interface ScimGroupQuery {
  readonly owner?: string;
  readonly ids?: readonly string[];
  readonly externalIds?: readonly string[];
  readonly displayNames?: readonly string[];
  readonly members?: readonly UserId[];
}

export interface NewScimGroup {
  readonly displayName: string;
  readonly externalId: string | null;
  readonly members: readonly UserId[];
}

/** A change to a group: the fields given, the membership replaced (first), then members added and removed. */
export interface ScimGroupUpdate {
  readonly displayName?: string;
  readonly externalId?: string | null;
  readonly replaceMembers?: readonly UserId[];
  readonly addMembers: readonly UserId[];
  readonly removeMembers: readonly UserId[];
}

/** Who writes a SCIM group, when, and what follows from it in the same transaction. */
export interface ScimGroupWriter {
  /** The token's source (ScimTokenRecord.source): the only groups it changes; another source's are absent. */
  readonly owner: string;
  /** Audited as this source (`scim:<token name>`). */
  readonly source: ProvisioningSource;
  readonly at: number;
  /**
   * The relay config's `scim.roleGroups`: the standing holders of the roles mapped to the group (as it stood before
   * and after the write) follow it in the same transaction (server/roles/scimRoleGroupWrites.ts).
   */
  readonly roleGroups?: RoleGroupMap;
}

export interface ScimStore {
  /**
   * Stores a new token's hash, with the source of the token named `replaces` (its own name without one);
   * RelayFailure BAD_REQUEST when a token (even a revoked one) has the name, NOT_FOUND when `replaces` names none.
   */
  createToken(name: string, tokenHash: string, at: number, expiresAt: number, audit: readonly AuditEvent[], replaces?: string): Promise<void>;
  /** Every token, by name. */
  tokens(): Promise<ScimTokenRecord[]>;
  /** Revokes the token of that name; false (nothing audited) when there is no unrevoked one. */
  revokeToken(name: string, at: number, audit: readonly AuditEvent[]): Promise<boolean>;
  /** The token whose hash this is, revoked or not (the caller refuses a revoked one, and can say so). */
  tokenByHash(tokenHash: string): Promise<ScimTokenRecord | undefined>;

  /** The accounts SCIM may see that meet the query: how many, and the slice asked for. */
  users(query: ScimUserQuery, slice: ScimSlice): Promise<{ total: number; users: UserRecord[] }>;
  /** SCIM's DELETE, after the account was deactivated: hidden from SCIM from now on; false when it already was. */
  hideUser(id: UserId, at: number, audit: readonly AuditEvent[]): Promise<boolean>;
  /** SCIM created the person again (Entra ID re-assigns someone it deleted): SCIM sees the account again. */
  showUser(id: UserId): Promise<void>;

  groups(query: ScimGroupQuery, slice: ScimSlice): Promise<{ total: number; groups: ScimStoredGroup[] }>;
  /**
   * A group of `by.owner`. ScimGroupRefused when another group, of any source, has the display name (any case:
   * one name, one group, so a role mapped by name names one) or a member is not an account.
   */
  createGroup(group: NewScimGroup, by: ScimGroupWriter): Promise<ScimStoredGroup>;
  /** null: no such group of `by.owner`. Refused as createGroup is; a change that changes nothing writes and audits nothing. */
  updateGroup(id: string, change: ScimGroupUpdate, by: ScimGroupWriter): Promise<ScimStoredGroup | null>;
  /** false: no such group of `by.owner`. */
  deleteGroup(id: string, by: ScimGroupWriter): Promise<boolean>;
  /**
   * For `scim.roleGroups`: by map key, the groups it matches (displayName any case, or externalId) of the one token
   * source the key is bound to, oldest first; a key not yet bound is bound at `at` to the source of the oldest group
   * it matches (scimRoleGroupWrites.ts, boundGroups).
   */
  mappedGroups(keys: readonly string[], at: number): Promise<Map<string, ScimStoredGroup[]>>;
}

/**
 * Run when token `$n` is revoked: the deactivations its source made are forgotten as that source's once no token of
 * it is left unrevoked, so another provider may reactivate those people (provisioning.ts): a bad token's leavers are
 * brought back by the real provider's next sync once the admin revoked it, not one by one. Both stores' SQL.
 */
export const FORGET_REVOKED_SOURCE = `UPDATE users SET deactivated_by_scim = NULL
WHERE deactivated_by_scim = (SELECT coalesce(source, name) FROM scim_tokens WHERE name = $n)
  AND NOT EXISTS (SELECT 1 FROM scim_tokens t WHERE coalesce(t.source, t.name) = users.deactivated_by_scim AND t.revoked_at IS NULL)`;
