/*
 * How a SCIM group change (a care team or department, as Entra ID and Okta push them) becomes rows and
 * audit records, the same for every store: the name checked, what changed, the members added and removed,
 * and the records that say so, naming the SCIM token. The stores find the group and write what this
 * decides, in one transaction with the records.
 */
import type { UserId } from '../../shared/ids';
import { hasControlCharacters } from '../../shared/wire/directory';
import type { AuditEvent } from '../audit/AuditRecord';
import { RelayFailure } from '../RelayFailure';
import type { NewScimGroup, ScimGroupUpdate, ScimStoredGroup } from '../storage/ScimStore';
import type { ProvisioningSource } from './DirectoryPerson';
import { MAX_EXTERNAL_ID_LENGTH, provisioningActor, sourceDetails } from './provisioning';

/** Why a group change changed nothing: its name is another group's or not valid, or a member is no account. */
export class ScimGroupRefused extends RelayFailure {
  constructor(readonly reason: 'invalid' | 'displayNameTaken' | 'unknownMember', message: string) {
    super('BAD_REQUEST', message);
    this.name = 'ScimGroupRefused';
  }
}

export const MAX_GROUP_NAME_LENGTH = 256;
/** Member ids an audit record names at most (its counts say how many there were). */
const MAX_NAMED_MEMBERS = 20;

/** The name as stored (trimmed); ScimGroupRefused when it is empty, too long or has control characters. */
export function checkedGroupName(displayName: string): string {
  const name = displayName.trim();
  if (name === '' || name.length > MAX_GROUP_NAME_LENGTH || hasControlCharacters(name)) throw new ScimGroupRefused('invalid', 'displayName: not a valid group name');
  return name;
}

export function checkedGroupExternalId(externalId: string | null): string | null {
  if (externalId === null || externalId === '') return null;
  if (externalId.length > MAX_EXTERNAL_ID_LENGTH || hasControlCharacters(externalId)) throw new ScimGroupRefused('invalid', 'externalId: not valid');
  return externalId;
}

/** What two names that must not both exist have in common: the name without regard to case. */
export const groupNameKey = (displayName: string): string => displayName.trim().toLowerCase();

const named = (label: string, ids: readonly UserId[]) => (ids.length === 0 ? {} : { [label]: ids.slice(0, MAX_NAMED_MEMBERS).join(' '), [`${label}Count`]: ids.length });

export function groupCreatedAudit(id: string, group: NewScimGroup, source: ProvisioningSource): AuditEvent {
  return {
    type: 'group.provisioned', actor: provisioningActor(source), subject: id,
    details: { ...sourceDetails(source), displayName: group.displayName, externalId: group.externalId, memberCount: group.members.length, ...named('members', group.members) },
  };
}

export function groupDeletedAudit(group: ScimStoredGroup, source: ProvisioningSource): AuditEvent {
  return { type: 'group.deleted', actor: provisioningActor(source), subject: group.id, details: { ...sourceDetails(source), displayName: group.displayName, memberCount: group.members.length } };
}

export interface GroupUpdatePlan {
  readonly displayName: string;
  readonly externalId: string | null;
  readonly members: readonly UserId[];
  readonly added: readonly UserId[];
  readonly removed: readonly UserId[];
  /** null: nothing changed (nothing to write or audit). */
  readonly audit: AuditEvent | null;
}

/** The group after the change, the members it adds and removes, and the record that says so. */
export function planGroupUpdate(current: ScimStoredGroup, change: ScimGroupUpdate, source: ProvisioningSource): GroupUpdatePlan {
  const displayName = change.displayName === undefined ? current.displayName : checkedGroupName(change.displayName);
  const externalId = change.externalId === undefined ? current.externalId : checkedGroupExternalId(change.externalId);
  const members = new Set<UserId>(change.replaceMembers ?? current.members);
  for (const id of change.addMembers) members.add(id);
  for (const id of change.removeMembers) members.delete(id);
  const before = new Set(current.members);
  const added = [...members].filter((id) => !before.has(id));
  const removed = current.members.filter((id) => !members.has(id));
  const changed = [
    ...(displayName !== current.displayName ? ['displayName'] : []),
    ...(externalId !== current.externalId ? ['externalId'] : []),
    ...(added.length + removed.length > 0 ? ['members'] : []),
  ];
  const audit: AuditEvent | null = changed.length === 0 ? null : {
    type: 'group.updated', actor: provisioningActor(source), subject: current.id,
    details: {
      ...sourceDetails(source), changed: changed.join(','), displayName,
      ...(changed.includes('externalId') ? { externalId } : {}), memberCount: members.size, ...named('added', added), ...named('removed', removed),
    },
  };
  return { displayName, externalId, members: [...members], added, removed, audit };
}
