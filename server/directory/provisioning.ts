/*
 * How a provisioning source's word about a person becomes a change to an account, the same for every store:
 * the person's fields checked and normalised, what differs from the account, what to do (create, update,
 * deactivate, reactivate) and the audit records that say so, naming the source. The stores only find the
 * account and write what this decides, in one transaction with the records.
 */
import { z } from 'zod';
import type { UserId } from '../../shared/ids';
import { ContactSchema, DepartmentSchema, JobTitleSchema, foldForSearch, hasControlCharacters } from '../../shared/wire/directory';
import { DisplayNameSchema, UsernameSchema } from '../../shared/wire/relay';
import type { AuditEvent } from '../audit/AuditRecord';
import { RelayFailure } from '../RelayFailure';
import type { DirectoryField, DirectoryListing, ProvisionResult, ProvisioningKind, UserRecord, UserStatus } from '../storage/RelayStore';
import type { DirectoryPerson, ProvisioningSource } from './DirectoryPerson';

/** Why a provisioning request changed nothing: the person's fields are not valid, or their username is another person's. */
export class ProvisioningRefused extends RelayFailure {
  /**
   * `deactivatedElsewhere`: a SCIM token asked to reactivate an account another SCIM source deactivated (`account`
   * names it, for the caller's audit record).
   */
  constructor(readonly reason: 'invalid' | 'usernameTaken' | 'deactivatedElsewhere', message: string, readonly account?: UserId) {
    super('BAD_REQUEST', message);
    this.name = 'ProvisioningRefused';
  }
}

export const MAX_EXTERNAL_ID_LENGTH = 256;

/** A directory field as a source or the command line gives it: blank clears it (null). */
export const clearable = <T extends z.ZodType<string>>(schema: T) => z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? null : v), schema.nullable());

const PersonSchema = z.object({
  externalId: z.string().min(1).max(MAX_EXTERNAL_ID_LENGTH).refine((s) => !hasControlCharacters(s), 'no control characters'),
  username: UsernameSchema,
  displayName: DisplayNameSchema.refine((s) => !hasControlCharacters(s), 'no control characters'),
  department: clearable(DepartmentSchema),
  jobTitle: clearable(JobTitleSchema),
  contact: clearable(ContactSchema),
  active: z.boolean(),
});

/** The person with usernames lower-cased, text trimmed and empty attributes null; ProvisioningRefused when a field is not valid. */
export function checkedPerson(person: DirectoryPerson): DirectoryPerson {
  const result = PersonSchema.safeParse(person);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ProvisioningRefused('invalid', `${issue?.path.join('.') || 'person'}: ${issue?.message ?? 'not valid'}`);
}

export const DIRECTORY_FIELDS: readonly DirectoryField[] = ['username', 'displayName', 'department', 'jobTitle', 'contact'];

export { foldForSearch };

/**
 * The text a directory search looks in: display name first (so ordering by it orders by name), then username,
 * department and job title, one a line (a query holds no line break, so it never matches across two fields).
 */
export function directorySearchText(user: Pick<UserRecord, 'displayName' | 'username'> & Partial<Pick<UserRecord, 'department' | 'jobTitle'>>): string {
  return foldForSearch([user.displayName, user.username, user.department ?? '', user.jobTitle ?? ''].join('\n'));
}

/** Who a source's changes are by, in the audit log: the admin's `admin:<os account>`, else `<kind>:<name>`. */
export function provisioningActor(source: ProvisioningSource): string {
  switch (source.kind) {
    case 'admin': return source.actor;
    case 'scim': return `scim:${source.tokenName}`;
    case 'ldap': return `ldap:${source.runId}`;
    case 'oidc': return `oidc:${source.issuer}`;
  }
}

/** The SCIM source a deactivation is recorded as (UserRecord.deactivatedByScim): the token's source; null for other kinds. */
export const scimSourceOf = (source: ProvisioningSource): string | null => (source.kind === 'scim' ? source.owner ?? source.tokenName : null);

const sourceName = (source: ProvisioningSource): string => (source.kind === 'admin' ? source.actor : source.kind === 'scim' ? source.tokenName : source.kind === 'ldap' ? source.runId : source.issuer);

/** The source's kind and name, as every provisioning audit record carries them. */
export const sourceDetails = (source: ProvisioningSource) => ({ source: source.kind, sourceName: sourceName(source) });

/** The changed fields, comma-separated, and each one's new value (null when cleared): organisational data only. */
export function changeDetails(changed: readonly DirectoryField[], values: Pick<DirectoryPerson, DirectoryField>): Record<string, string | null> {
  return { changed: changed.join(','), ...Object.fromEntries(changed.map((field) => [field, values[field]])) };
}

/** What a store writes for one provisioning request (see RelayStore.provisionPerson). */
export interface ProvisionPlan {
  readonly result: ProvisionResult;
  /** A new account: its status (pending, or deactivated when the source says so). */
  readonly create?: { readonly status: UserStatus };
  /** An existing account's directory fields and source, written whole when anything of them changed. */
  readonly update: boolean;
  readonly deactivate: boolean;
  /** The status a reactivated account returns to (active once enrolled, else pending), or null. */
  readonly reactivateTo: UserStatus | null;
  /** The records, in order; a deactivation's is written with the deactivation. */
  readonly audit: readonly AuditEvent[];
  readonly deactivationAudit: readonly AuditEvent[];
}

/**
 * What to do, given the account of this externalId (`byExternalId`) and the one of the person's username
 * (`byUsername`), as the store found them inside its transaction. `newId` names a new account.
 */
export function planProvision(person: DirectoryPerson, source: ProvisioningSource, found: { byExternalId?: UserRecord | undefined; byUsername?: UserRecord | undefined }, newId: UserId): ProvisionPlan {
  const actor = provisioningActor(source);
  const details = sourceDetails(source);
  const { byExternalId, byUsername } = found;
  if (byExternalId && byUsername && byUsername.id !== byExternalId.id) {
    throw new ProvisioningRefused('usernameTaken', `the username ${person.username} belongs to another account`);
  }
  const existing = byExternalId ?? byUsername;
  // The relay's own admin and compliance accounts are never a directory's: a source that names one (a username
  // set at the provider, an LDAP entry) neither takes it over nor deactivates it.
  if (existing && existing.role !== 'clinician') {
    throw new ProvisioningRefused('usernameTaken', `the username ${person.username} belongs to an ${existing.role} account, which directory sources do not manage`);
  }
  if (!existing) {
    const status: UserStatus = person.active ? 'pending' : 'deactivated';
    const changed = DIRECTORY_FIELDS.filter((f) => f === 'username' || f === 'displayName' || person[f] !== null);
    return {
      result: { userId: newId, outcome: 'created', changed },
      create: { status }, update: false, deactivate: false, reactivateTo: null, deactivationAudit: [],
      audit: [{ type: 'user.provisioned', actor, subject: newId, details: { ...details, status, externalId: person.externalId, ...changeDetails(changed, person) } }],
    };
  }
  // An account another person of this source kind holds (its externalId is not this one) is not taken over.
  if (!byExternalId && existing.source === source.kind && existing.externalId !== null && existing.externalId !== person.externalId) {
    throw new ProvisioningRefused('usernameTaken', `the username ${person.username} belongs to another person of this ${source.kind} source`);
  }
  const changed = DIRECTORY_FIELDS.filter((f) => existing[f] !== person[f]);
  const adopted = existing.source !== source.kind || existing.externalId !== person.externalId;
  const update = changed.length > 0 || adopted;
  const audit: AuditEvent[] = update
    ? [{ type: 'user.updated', actor, subject: existing.id, details: { ...details, ...(adopted ? { externalId: person.externalId, adopted: true } : {}), ...changeDetails(changed, person) } }]
    : [];
  const deactivate = !person.active && existing.status !== 'deactivated';
  // Only the source that deactivated an account reactivates it; of SCIM, only the same token source (one provider
  // cannot bring back a leaver another disabled). Another SCIM source asking is refused, not silently ignored. A SCIM
  // deactivation whose source is not known (made before sources were recorded and not named by the log, or whose
  // source's tokens were all revoked since: revokeToken forgets it) may be undone by any SCIM source, as before.
  const sameSource = existing.deactivatedBySource === source.kind
    && (existing.deactivatedByScim === scimSourceOf(source) || (source.kind === 'scim' && existing.deactivatedByScim === null));
  if (person.active && existing.status === 'deactivated' && source.kind === 'scim' && existing.deactivatedBySource === 'scim' && !sameSource) {
    throw new ProvisioningRefused('deactivatedElsewhere', 'the account was deactivated by another SCIM source, which alone may reactivate it', existing.id);
  }
  const reactivateTo = person.active && existing.status === 'deactivated' && sameSource ? (existing.passwordHash ? 'active' : 'pending') : null;
  if (reactivateTo) audit.push({ type: 'account.reactivated', actor, subject: existing.id, details });
  const outcome: ProvisionResult['outcome'] = deactivate ? 'deactivated' : reactivateTo ? 'reactivated' : update ? 'updated' : 'unchanged';
  return {
    result: { userId: existing.id, outcome, changed }, update, deactivate, reactivateTo, audit,
    // `reason: 'provisioning'`: the source deactivated it (the person left, or was disabled there).
    deactivationAudit: deactivate ? [{ type: 'account.deactivated', actor, subject: existing.id, details: { reason: 'provisioning', ...details } }] : [],
  };
}

/** The source kinds, for checks of stored values. */
export const PROVISIONING_KINDS: readonly ProvisioningKind[] = ['admin', 'scim', 'ldap', 'oidc'];

/** What the directory shows of an account. */
export function directoryListing(u: UserRecord): DirectoryListing {
  return { id: u.id, username: u.username, displayName: u.displayName, role: u.role, status: u.status, department: u.department, jobTitle: u.jobTitle, contact: u.contact };
}

/** The searchable fields an account patch may touch: when it does, the account's search text is made again. */
export const touchesSearchText = (patch: object): boolean => ['displayName', 'department', 'jobTitle'].some((k) => k in patch);
