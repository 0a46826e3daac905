/*
 * The SCIM directory on the relay's store (ScimDirectory.ts): users are accounts, provisioned through
 * RelayStore.provisionPerson with the source `scim:<token name>` (so every change is audited with the token
 * that made it), groups are ScimStore's groups. One per request: it carries the token that authenticated it.
 *
 * What SCIM sees: every account of the role clinician it has not deleted, whoever made it. An identity
 * provider thus finds an account an admin made by hand (Entra ID and Okta match by userName before they
 * create) and adopts it with its next change; admin and compliance accounts are the relay's own, never
 * shown, changed or deleted through SCIM. An account SCIM did not make shows its username as externalId.
 * DELETE deactivates the account (every device cut off) and hides it from SCIM; the account stays for the
 * audit trail, and a later create of the same person (Entra ID re-assigning them) brings it back.
 * Groups are stored and served, but do not (yet) change the app's care teams.
 *
 * Groups belong to the token's source (ScimTokenRecord.source: the token's name, or the token it replaced): a
 * token finds, reads, changes and deletes only its own source's groups, and another's are absent (404), so a
 * test app's token or a second provider cannot empty or delete the groups roles are mapped from. Display names
 * stay unique across sources (a role mapped by name names one group): a name another source holds is a 409.
 *
 * Users are shared on purpose (one person, one account, whichever provider sent them), and so is deactivation:
 * any token may deactivate (active false, or DELETE) an account SCIM sees, including one another source made.
 * A leaver disabled in any of the hospital's providers must lose access at once, and the relay cannot tell a
 * provider's stale copy from a real leaver. What bounds a wrong token is its own budget of deactivations an hour
 * (scimRoutes.ts), the audit record naming it (`scim:<token>`), and revoking it; a test app belongs on a test relay.
 */
import { UserIdSchema, type UserId } from '../../shared/ids';
import type { DirectoryPerson, ProvisioningSource } from '../directory/DirectoryPerson';
import { ProvisioningRefused, provisioningActor, sourceDetails } from '../directory/provisioning';
import { ScimGroupRefused } from '../directory/scimGroupChanges';
import type { RelayStore, UserRecord } from '../storage/RelayStore';
import type { RoleGroupMap } from '../roles/directoryRoleHolders';
import type { ScimGroupQuery, ScimGroupWriter, ScimStoredGroup, ScimTokenRecord, ScimUserQuery } from '../storage/ScimStore';
import { badScimRequest, ScimError, scimUniquenessConflict } from './ScimError';
import type {
  DirectoryFilter, GroupFilterAttribute, ScimDirectory, ScimGroup, ScimGroupChange, ScimGroupId, ScimGroupRecord, ScimPage, ScimPageResult, ScimUserRecord, UserFilterAttribute,
} from './ScimDirectory';

type ScimSource = Extract<ProvisioningSource, { kind: 'scim' }>;

/** The person SCIM is shown for an account (and starts a PATCH from). */
export function scimPerson(user: UserRecord): DirectoryPerson {
  return {
    externalId: user.source === 'scim' && user.externalId !== null ? user.externalId : user.username,
    username: user.username, displayName: user.displayName, department: user.department, jobTitle: user.jobTitle, contact: user.contact,
    active: user.status !== 'deactivated',
  };
}

function userRecord(user: UserRecord): ScimUserRecord {
  return { id: user.id, person: scimPerson(user), created: new Date(user.createdAt), lastModified: new Date(Math.max(user.createdAt, user.deactivatedAt ?? 0)) };
}

function groupRecord(group: ScimStoredGroup): ScimGroupRecord {
  return { id: group.id, group: { displayName: group.displayName, externalId: group.externalId, members: group.members }, created: new Date(group.createdAt), lastModified: new Date(group.lastModifiedAt) };
}

/** The values each attribute must equal (every condition holds: SCIM's `and`). */
function valuesOf<A extends string>(filter: DirectoryFilter<A>, attribute: A): string[] | undefined {
  const values = filter.filter((c) => c.attribute === attribute).map((c) => c.value);
  return values.length === 0 ? undefined : values;
}

/** The account ids a filter names; null when one is no account id at all (nothing can match it). */
function accountIds(values: readonly string[] | undefined): UserId[] | undefined | null {
  if (values === undefined) return undefined;
  const ids = values.map((v) => UserIdSchema.safeParse(v));
  return ids.every((r) => r.success) ? ids.map((r) => r.data as UserId) : null;
}

const NOTHING = { totalResults: 0, resources: [] } as const;

const slice = (page: ScimPage) => ({ offset: Math.max(0, page.startIndex - 1), limit: Math.max(0, page.count) });

/** The store's refusals as SCIM errors; details name attributes, never the values a request carried. */
async function asScimErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ProvisioningRefused) {
      if (error.reason === 'usernameTaken') throw scimUniquenessConflict('The userName belongs to another account.');
      throw badScimRequest('invalidValue', `The relay does not accept this value of ${error.message.split(':')[0] || 'the user'}.`);
    }
    if (error instanceof ScimGroupRefused) {
      if (error.reason === 'displayNameTaken') throw scimUniquenessConflict('Another group has this displayName.');
      const detail = { unknownMember: 'A member is not an account this relay has.', invalid: 'The relay does not accept this group name or externalId.' }[error.reason];
      throw badScimRequest('invalidValue', detail);
    }
    throw error;
  }
}

export class StoreScimDirectory implements ScimDirectory {
  readonly #store: RelayStore;
  readonly #source: ScimSource;
  /** The token's source: the only groups it sees. */
  readonly #owner: string;
  readonly #now: () => number;

  readonly #beforeDeactivating: () => Promise<void>;
  readonly #roleGroups: RoleGroupMap | undefined;

  /**
   * `beforeDeactivating` may refuse (throw) a deactivation: the relay's budget of them per token. `roleGroups`: the
   * config's scim.roleGroups, whose roles follow each group write in its transaction (scimRoleGroupWrites.ts).
   */
  constructor(store: RelayStore, token: Pick<ScimTokenRecord, 'name' | 'source'>, now: () => number, options: { beforeDeactivating?: () => Promise<void>; roleGroups?: RoleGroupMap } = {}) {
    this.#store = store;
    this.#source = { kind: 'scim', tokenName: token.name, owner: token.source };
    this.#owner = token.source;
    this.#now = now;
    this.#beforeDeactivating = options.beforeDeactivating ?? (async () => undefined);
    this.#roleGroups = options.roleGroups && Object.keys(options.roleGroups).length > 0 ? options.roleGroups : undefined;
  }

  async findUsers(filter: DirectoryFilter<UserFilterAttribute>, page: ScimPage): Promise<ScimPageResult<ScimUserRecord>> {
    const ids = accountIds(valuesOf(filter, 'id'));
    if (ids === null) return NOTHING;
    const query: ScimUserQuery = {
      ...optional('ids', ids),
      ...optional('usernames', valuesOf(filter, 'userName')),
      ...optional('externalIds', valuesOf(filter, 'externalId')),
      ...optional('displayNames', valuesOf(filter, 'displayName')),
    };
    const { total, users } = await this.#store.scim.users(query, slice(page));
    return { totalResults: total, resources: users.map(userRecord) };
  }

  async getUser(id: UserId): Promise<ScimUserRecord | null> {
    const user = await this.#visible(id);
    return user ? userRecord(user) : null;
  }

  async createUser(person: DirectoryPerson): Promise<ScimUserRecord> {
    const holder = await this.#store.userByUsername(person.username);
    if (holder && holder.role !== 'clinician') throw scimUniquenessConflict('The userName belongs to an account SCIM does not manage.');
    // RFC 7644 3.3 (and Okta's guide): creating a user SCIM already sees is a conflict; it matches and PATCHes instead.
    const seen = async (query: ScimUserQuery) => (await this.#store.scim.users(query, { offset: 0, limit: 0 })).total > 0;
    if ((await seen({ usernames: [person.username] })) || (await seen({ externalIds: [person.externalId] }))) throw scimUniquenessConflict('A user with this userName or externalId exists already.');
    const { userId } = await this.#provision(person);
    await this.#store.scim.showUser(userId);
    return userRecord(await this.#account(userId));
  }

  async replaceUser(id: UserId, person: DirectoryPerson): Promise<ScimUserRecord | null> {
    const current = await this.#visible(id);
    if (!current) return null;
    if (current.source === 'scim' && current.externalId !== person.externalId) throw badScimRequest('mutability', 'externalId cannot be changed.');
    if (!person.active && current.status !== 'deactivated') await this.#beforeDeactivating();
    // provisionPerson finds an account by externalId, else by username: one SCIM did not make, renamed in
    // the same request that adopts it, is adopted under its current username first.
    if (current.source !== 'scim' && current.username !== person.username) await this.#provision({ ...person, username: current.username });
    const { userId } = await this.#provision(person);
    if (userId !== id) throw new Error('provisioning reached another account than the one addressed');
    return userRecord(await this.#account(id));
  }

  async deleteUser(id: UserId): Promise<boolean> {
    const current = await this.#visible(id);
    if (!current) return false;
    if (current.status !== 'deactivated') await this.#beforeDeactivating();
    await this.#provision({ ...scimPerson(current), active: false });
    const audit = [{ type: 'user.deprovisioned' as const, actor: provisioningActor(this.#source), subject: id, details: sourceDetails(this.#source) }];
    await this.#store.scim.hideUser(id, this.#now(), audit);
    return true;
  }

  async findGroups(filter: DirectoryFilter<GroupFilterAttribute>, page: ScimPage): Promise<ScimPageResult<ScimGroupRecord>> {
    const members = accountIds(valuesOf(filter, 'members'));
    if (members === null) return NOTHING;
    const query: ScimGroupQuery = {
      owner: this.#owner,
      ...optional('ids', valuesOf(filter, 'id')),
      ...optional('externalIds', valuesOf(filter, 'externalId')),
      ...optional('displayNames', valuesOf(filter, 'displayName')),
      ...optional('members', members),
    };
    const { total, groups } = await this.#store.scim.groups(query, slice(page));
    return { totalResults: total, resources: groups.map(groupRecord) };
  }

  async getGroup(id: ScimGroupId): Promise<ScimGroupRecord | null> {
    const { groups } = await this.#store.scim.groups({ owner: this.#owner, ids: [id] }, { offset: 0, limit: 1 });
    return groups[0] ? groupRecord(groups[0]) : null;
  }

  async createGroup(group: ScimGroup): Promise<ScimGroupRecord> {
    return groupRecord(await asScimErrors(() => this.#store.scim.createGroup(group, this.#writer())));
  }

  async replaceGroup(id: ScimGroupId, group: ScimGroup): Promise<ScimGroupRecord | null> {
    return this.updateGroup(id, { displayName: group.displayName, externalId: group.externalId, replaceMembers: group.members, addMembers: [], removeMembers: [] });
  }

  async updateGroup(id: ScimGroupId, change: ScimGroupChange): Promise<ScimGroupRecord | null> {
    const updated = await asScimErrors(() => this.#store.scim.updateGroup(id, change, this.#writer()));
    return updated ? groupRecord(updated) : null;
  }

  async deleteGroup(id: ScimGroupId): Promise<boolean> {
    return this.#store.scim.deleteGroup(id, this.#writer());
  }

  #writer(): ScimGroupWriter {
    return { owner: this.#owner, source: this.#source, at: this.#now(), ...(this.#roleGroups ? { roleGroups: this.#roleGroups } : {}) };
  }

  #provision(person: DirectoryPerson) {
    return asScimErrors(async () => {
      try {
        return await this.#store.provisionPerson(person, this.#source, this.#now());
      } catch (error) {
        // Another provider disabled this leaver: this token may not bring them back (flagged, for the IT team to see).
        if (error instanceof ProvisioningRefused && error.reason === 'deactivatedElsewhere') {
          const token = this.#source.tokenName;
          await this.#store.appendAudit([{ type: 'scim.refused', actor: provisioningActor(this.#source), subject: error.account ?? '', details: { reason: 'reactivation', token }, flagged: true }]);
          throw new ScimError(403, null, 'Another SCIM provider deactivated this account; only it (or the relay\'s administrator) may reactivate it.');
        }
        throw error;
      }
    });
  }

  async #visible(id: UserId): Promise<UserRecord | undefined> {
    return (await this.#store.scim.users({ ids: [id] }, { offset: 0, limit: 1 })).users[0];
  }

  async #account(id: UserId): Promise<UserRecord> {
    const user = await this.#store.userById(id);
    if (!user) throw new Error('a provisioned account is gone');
    return user;
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
