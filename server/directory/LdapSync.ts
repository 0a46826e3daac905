import { randomBytes } from 'node:crypto';
import type { AuditEvent } from '../audit/AuditRecord';
import type { Clock } from '../Clock';
import type { UserId } from '../../shared/ids';
import { applyRoleGroups, ldapRolesOf, type RoleGroupMap, type RoleGroupSyncResult } from '../roles/directoryRoleHolders';
import { JobLockLost } from '../storage/exclusiveJob';
import type { JobLease, RelayStore, UserRecord } from '../storage/RelayStore';
import type { DirectoryPerson, ProvisioningSource } from './DirectoryPerson';
import { readLdapDirectory, type LdapDirectoryRead } from './ldapDirectory';
import type { LdapSyncConfig } from './ldapSyncConfig';
import { ProvisioningRefused, provisioningActor, sourceDetails } from './provisioning';

/*
 * One LDAP / Active Directory sync run (issue 18): everyone the filter selects is provisioned (created
 * pending, updated, deactivated when the directory disables them, reactivated when it enables them again),
 * then every LDAP-provisioned account the run did not read (moved out of the base DN, out of the group,
 * deleted) is deactivated: its workstations cut off at once, on every relay instance.
 *
 * Safety, decided before anything is written:
 *  - a read of nobody while LDAP-provisioned accounts are active changes nothing (DIRECTORY_EMPTY_READ): a
 *    wrong filter or base DN, or a service account that lost its rights, must not deactivate the hospital.
 *    No option lets it through; to end every LDAP account, deactivate them with `rounds-server user deactivate`.
 *  - a run that would deactivate more than `maxDeactivationPercent` of the active LDAP accounts (and more
 *    than one) changes nothing (DIRECTORY_MASS_DEACTIVATION) unless the administrator allows it for that run
 *    (`rounds-server directory sync --allow-mass-deactivation`); the relay's timer never does.
 * A person the store refuses (ProvisioningRefused: a field not valid, a username another account has) is
 * counted and named in the result, and the run goes on. One audit record (`directory.synced`) sums the run up.
 * The reading is all or nothing (ldapDirectory.ts): a failed read throws and changes nothing either.
 *
 * One process at a time runs a sync (RelayStore.withExclusiveJob): a relay instance whose turn it is not
 * leaves the run to the one already at it (DIRECTORY_SYNC_BUSY). A run that loses its lock on the way (its
 * PostgreSQL session dropped, and another instance may have started) stops before its next write
 * (DIRECTORY_SYNC_LOCK_LOST), its partial counts on a flagged record; the next run finishes the work.
 */

export const DIRECTORY_SYNC_JOB = 'directory-sync';

export type DirectorySyncRefusalCode = 'DIRECTORY_EMPTY_READ' | 'DIRECTORY_MASS_DEACTIVATION' | 'DIRECTORY_SYNC_BUSY' | 'DIRECTORY_SYNC_LOCK_LOST';

/** A sync run that stopped before changing anything, and why. */
export class DirectorySyncRefused extends Error {
  constructor(readonly code: DirectorySyncRefusalCode, message: string) {
    super(message);
    this.name = 'DirectorySyncRefused';
  }
}

export interface DirectorySyncCounts {
  readonly created: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly deactivated: number;
  readonly reactivated: number;
  /** People the store refused (see `refusals`). */
  readonly refused: number;
  /** Entries the filter matched that are not read as a person (no username, no stable id, a duplicate). */
  readonly skipped: number;
}

export interface DirectorySyncResult {
  readonly runId: string;
  readonly counts: DirectorySyncCounts;
  /** Who was refused and why (organisational data: usernames and the reason); at most MAX_LISTED. */
  readonly refusals: readonly { readonly username: string; readonly reason: string }[];
  readonly skipped: LdapDirectoryRead['skipped'];
  /** The on-call roles whose standing holders the directory's groups changed (config roleGroups). */
  readonly roles: RoleGroupSyncResult;
}

export interface DirectorySyncOptions {
  readonly maxDeactivationPercent: number;
  /** The administrator's `--allow-mass-deactivation` for this run. */
  readonly allowMassDeactivation?: boolean;
  readonly clock: Clock;
  /** A run id (tests); by default a new random one. */
  readonly runId?: string;
  /** Who asked for the run, on its record: the admin's `admin:<os account>`, or `relay` for the relay's timer. */
  readonly requestedBy?: string;
  /** The run's hold on the sync's lock, asked before each write (none: the caller keeps others out). */
  readonly lease?: JobLease;
  /** Groups (DNs) whose members hold on-call roles (config directory.ldap.roleGroups; none: no role has holders from LDAP). */
  readonly roleGroups?: RoleGroupMap;
}

const MAX_LISTED = 50;

export const newSyncRunId = (): string => `sync-${randomBytes(4).toString('hex')}`;

/** Reads the directory and applies it, one process at a time; throws DirectorySyncRefused or LdapDirectoryError. */
export async function syncFromLdap(store: RelayStore, config: LdapSyncConfig, options: Omit<DirectorySyncOptions, 'maxDeactivationPercent'>): Promise<DirectorySyncResult> {
  const outcome = await store.withExclusiveJob(DIRECTORY_SYNC_JOB, async (lease) => applyDirectoryRead(store, await readLdapDirectory(config), { ...options, lease, roleGroups: config.roleGroups, maxDeactivationPercent: config.maxDeactivationPercent }));
  if (!outcome.ran) throw new DirectorySyncRefused('DIRECTORY_SYNC_BUSY', 'another relay or admin command is running a directory sync now; this run was left to it');
  return outcome.value;
}

/** An account's person as it stands, for the source to deactivate. */
const asPerson = (u: UserRecord, externalId: string): DirectoryPerson => ({
  externalId, username: u.username, displayName: u.displayName, department: u.department, jobTitle: u.jobTitle, contact: u.contact, active: false,
});

/** What a read would deactivate, checked against the safety rules; throws DirectorySyncRefused. */
export function plannedDeactivations(read: LdapDirectoryRead, accounts: readonly UserRecord[], options: Pick<DirectorySyncOptions, 'maxDeactivationPercent' | 'allowMassDeactivation'>): { unseen: UserRecord[]; total: number } {
  const ldapActive = accounts.filter((u) => u.source === 'ldap' && u.status !== 'deactivated');
  if (read.people.length === 0 && ldapActive.length > 0) {
    throw new DirectorySyncRefused('DIRECTORY_EMPTY_READ', `the directory read found nobody (${read.skipped.length} entries skipped), but ${ldapActive.length} accounts come from it: nothing was deactivated. Check directory.ldap's baseDn, filter and the bind account's rights`);
  }
  const seen = new Set(read.people.map((p) => p.externalId));
  const unseen = ldapActive.filter((u) => u.externalId === null || !seen.has(u.externalId));
  const byExternalId = new Map(ldapActive.map((u) => [u.externalId, u]));
  const byUsername = new Map(accounts.filter((u) => u.status !== 'deactivated').map((u) => [u.username, u]));
  const disabled = read.people.filter((p) => !p.active && (byExternalId.has(p.externalId) || byUsername.has(p.username.toLowerCase()))).length;
  const total = unseen.length + disabled;
  const allowed = Math.max(1, Math.floor((ldapActive.length * options.maxDeactivationPercent) / 100));
  if (total > allowed && !options.allowMassDeactivation) {
    throw new DirectorySyncRefused('DIRECTORY_MASS_DEACTIVATION', `this run would deactivate ${total} of the ${ldapActive.length} active accounts from the directory (${unseen.length} no longer read, ${disabled} disabled there), more than maxDeactivationPercent (${options.maxDeactivationPercent} %) allows: nothing was changed. If they have really left, run \`rounds-server directory sync --allow-mass-deactivation\``);
  }
  return { unseen, total };
}

/** Applies one read of the directory to the accounts (see the top of this file); writes its `directory.synced` record. */
export async function applyDirectoryRead(store: RelayStore, read: LdapDirectoryRead, options: DirectorySyncOptions): Promise<DirectorySyncResult> {
  const source: ProvisioningSource = { kind: 'ldap', runId: options.runId ?? newSyncRunId() };
  const summary = (details: AuditEvent['details'], flagged = false): AuditEvent => ({ type: 'directory.synced', actor: provisioningActor(source), subject: '', details: { ...sourceDetails(source), ...(options.requestedBy ? { requestedBy: options.requestedBy } : {}), read: read.people.length, ...details }, flagged });
  const counts = { created: 0, updated: 0, unchanged: 0, deactivated: 0, reactivated: 0, refused: 0, skipped: read.skipped.length };
  // Lost: the run stops before its next write, and says how far it came (flagged: it may have overlapped another run).
  const stillHeld = async () => {
    try {
      await options.lease?.assertHeld();
    } catch (error) {
      if (!(error instanceof JobLockLost)) throw error;
      await store.appendAudit([summary({ stopped: 'DIRECTORY_SYNC_LOCK_LOST', ...counts }, true)]);
      throw new DirectorySyncRefused('DIRECTORY_SYNC_LOCK_LOST', `${error.message}; ${describeSyncCounts(counts)} before it stopped, the next run does the rest`);
    }
  };
  let unseen: UserRecord[];
  try {
    ({ unseen } = plannedDeactivations(read, await store.listUsers(), options));
  } catch (error) {
    // A run stopped by a safety rule is on record too (flagged: someone has to look at the directory or the config).
    if (error instanceof DirectorySyncRefused) await store.appendAudit([summary({ stopped: error.code, skipped: read.skipped.length }, true)]);
    throw error;
  }
  const refusals: { username: string; reason: string }[] = [];
  const provision = async (person: DirectoryPerson) => {
    await stillHeld();
    try {
      counts[(await store.provisionPerson(person, source, options.clock.now())).outcome] += 1;
    } catch (error) {
      if (!(error instanceof ProvisioningRefused)) throw error;
      counts.refused += 1;
      if (refusals.length < MAX_LISTED) refusals.push({ username: person.username, reason: error.message });
    }
  };
  for (const person of read.people) await provision(person);
  for (const account of unseen) await provision(asPerson(account, account.externalId ?? ''));
  const roles = await applyRoleGroups(store, options.roleGroups ?? {}, source, await ldapRoleMembers(store, read, options.roleGroups ?? {}), options.clock.now(), { beforeWrite: stillHeld, everyRole: true });
  await store.appendAudit([summary(counts)]);
  return { runId: source.runId, counts, refusals, skipped: read.skipped, roles };
}

/** The accounts (by role name key) of the active people the read found in each mapped group, once provisioned. */
async function ldapRoleMembers(store: RelayStore, read: LdapDirectoryRead, map: RoleGroupMap): Promise<Map<string, UserId[]>> {
  const members = new Map<string, UserId[]>();
  if (!read.groups || Object.keys(map).length === 0) return members;
  const accounts = new Map((await store.listUsers()).filter((u) => u.source === 'ldap' && u.externalId !== null).map((u) => [u.externalId, u.id]));
  for (const person of read.people) {
    const account = accounts.get(person.externalId);
    if (!person.active || account === undefined) continue;
    for (const role of ldapRolesOf(map, read.groups.get(person.externalId) ?? [])) members.set(role, [...(members.get(role) ?? []), account]);
  }
  return members;
}

/** The run's counts on one line, for the command's output and the relay's log. */
export const describeSyncCounts = (c: DirectorySyncCounts): string =>
  `created ${c.created}, updated ${c.updated}, unchanged ${c.unchanged}, deactivated ${c.deactivated}, reactivated ${c.reactivated}, refused ${c.refused}, skipped ${c.skipped}`;
