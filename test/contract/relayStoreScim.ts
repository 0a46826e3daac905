/**
 * The RelayStore contract (relayStoreContract.ts): what SCIM provisioning keeps (issue 18). Bearer tokens by
 * hash (names unique for good), the accounts SCIM may see and find (clinicians it has not deleted), and
 * SCIM's groups with their members; every change audited in the same transaction, and seen by the other
 * instance at once.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { sha256Hex } from '../../server/auth/secrets';
import type { ProvisioningSource } from '../../server/directory/DirectoryPerson';
import { ScimGroupRefused } from '../../server/directory/scimGroupChanges';
import { SCIM_CONFIG_PASS, syncScimRoleGroups } from '../../server/roles/directoryRoleHolders';
import { shiftAudit } from '../../server/roles/roleAudit';
import { UserIdSchema, type UserId } from '../../shared/ids';
import { RoleIdSchema } from '../../shared/wire/roles';
import { HOUR, NOW, expectFailure, type ContractStores } from './relayStoreStores';

const YEAR = 365 * 24 * HOUR;
const ENTRA: ProvisioningSource = { kind: 'scim', tokenName: 'entra-prod' };
/** The groups of entra-prod's source. */
const OWNER = 'entra-prod';
const TEST: ProvisioningSource = { kind: 'scim', tokenName: 'test-app' };
/** A group write at `at` by entra-prod, or by another token (its source its own name). */
const by = (at: number, source: ProvisioningSource = ENTRA) => ({ owner: source.kind === 'scim' ? source.tokenName : OWNER, source, at });
const tokenAudit = (type: 'scim.token_created' | 'scim.token_revoked', name: string) => [{ type, actor: 'admin:ops', subject: '', details: { name } }] as const;

async function refusedGroup(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ScimGroupRefused);
  return (error as ScimGroupRefused).reason;
}

export function relayStoreScim(t: ContractStores): void {
  it('keeps SCIM tokens as hashes with their expiry: found by hash on either instance, names unique even once revoked, each change audited once', async () => {
    const { store, other } = t;
    await store.scim.createToken('entra-prod', sha256Hex('token-1'), NOW, NOW + YEAR, tokenAudit('scim.token_created', 'entra-prod'));
    expect(await other.scim.tokenByHash(sha256Hex('token-1'))).toEqual({ name: 'entra-prod', createdAt: NOW, revokedAt: null, expiresAt: NOW + YEAR, source: 'entra-prod' });
    expect(await other.scim.tokenByHash(sha256Hex('token-2'))).toBeUndefined();
    await expectFailure(other.scim.createToken('entra-prod', sha256Hex('token-2'), NOW, NOW + YEAR, tokenAudit('scim.token_created', 'entra-prod')), 'BAD_REQUEST');

    expect(await other.scim.revokeToken('entra-prod', NOW + 1, tokenAudit('scim.token_revoked', 'entra-prod'))).toBe(true);
    expect(await store.scim.revokeToken('entra-prod', NOW + 2, tokenAudit('scim.token_revoked', 'entra-prod'))).toBe(false);
    expect(await store.scim.revokeToken('nobody', NOW + 2, tokenAudit('scim.token_revoked', 'nobody'))).toBe(false);
    expect(await store.scim.tokenByHash(sha256Hex('token-1'))).toEqual({ name: 'entra-prod', createdAt: NOW, revokedAt: NOW + 1, expiresAt: NOW + YEAR, source: 'entra-prod' });
    await expectFailure(store.scim.createToken('entra-prod', sha256Hex('token-3'), NOW, NOW + YEAR, tokenAudit('scim.token_created', 'entra-prod')), 'BAD_REQUEST');
    await store.scim.createToken('okta', sha256Hex('token-4'), NOW + 3, NOW + 3 + HOUR, tokenAudit('scim.token_created', 'okta'));
    expect(await other.scim.tokens()).toEqual([{ name: 'entra-prod', createdAt: NOW, revokedAt: NOW + 1, expiresAt: NOW + YEAR, source: 'entra-prod' }, { name: 'okta', createdAt: NOW + 3, revokedAt: null, expiresAt: NOW + 3 + HOUR, source: 'okta' }]);
    expect(await t.audit('scim.token_created', 'scim.token_revoked')).toEqual([['scim.token_created', ''], ['scim.token_revoked', ''], ['scim.token_created', '']]);
  });

  it('shows SCIM the clinicians it has not deleted, found by id, username, externalId or display name, in a stable order by pages', async () => {
    const { store, other } = t;
    const byHand = await t.user({ username: 'asmith' });
    const { userId: provisioned } = await store.provisionPerson({ externalId: 'obj-1', username: 'j.smith@hospital.example', displayName: 'Dr. Jo Smith', department: null, jobTitle: null, contact: null, active: true }, ENTRA, NOW);
    const adminId = UserIdSchema.parse(randomUUID());
    await store.createUser({ id: adminId, username: 'root', displayName: 'Relay admin', role: 'admin', status: 'active', createdAt: NOW, lastActiveAt: NOW }, sha256Hex(randomUUID()), NOW + HOUR, []);
    const ids = async (query: Parameters<typeof store.scim.users>[0], offset = 0, limit = 100) => {
      const { total, users } = await other.scim.users(query, { offset, limit });
      return { total, ids: users.map((u) => u.id) };
    };
    const all = (await ids({})).ids;
    expect(all).toHaveLength(2);
    expect(new Set(all)).toEqual(new Set([byHand, provisioned]));
    // Pages of one: the same order as the whole list, and the total on each.
    expect([...(await ids({}, 0, 1)).ids, ...(await ids({}, 1, 1)).ids]).toEqual(all);
    expect(await ids({}, 0, 0)).toEqual({ total: 2, ids: [] });
    expect(await ids({}, 5, 10)).toEqual({ total: 2, ids: [] });

    expect((await ids({ usernames: ['j.smith@hospital.example'] })).ids).toEqual([provisioned]);
    expect((await ids({ usernames: ['root'] })).ids).toEqual([]);
    expect((await ids({ externalIds: ['obj-1'] })).ids).toEqual([provisioned]);
    // An account made by hand is shown to SCIM with its username as externalId, and found by it.
    expect((await ids({ externalIds: ['asmith'] })).ids).toEqual([byHand]);
    expect((await ids({ externalIds: ['j.smith@hospital.example'] })).ids).toEqual([]);
    expect((await ids({ ids: [provisioned] })).ids).toEqual([provisioned]);
    expect((await ids({ ids: [adminId] })).ids).toEqual([]);
    expect((await ids({ displayNames: ['DR. JO SMITH'] })).ids).toEqual([provisioned]);
    expect((await ids({ usernames: ['asmith'], ids: [provisioned] })).ids).toEqual([]);

    const deleted = [{ type: 'user.deprovisioned' as const, actor: 'scim:entra-prod', subject: provisioned, details: { source: 'scim', sourceName: 'entra-prod' } }];
    expect(await store.scim.hideUser(provisioned, NOW + 1, deleted)).toBe(true);
    expect(await other.scim.hideUser(provisioned, NOW + 2, deleted)).toBe(false);
    expect(await ids({})).toEqual({ total: 1, ids: [byHand] });
    expect((await ids({ externalIds: ['obj-1'] })).ids).toEqual([]);
    // The account is kept (the audit trail names it), and SCIM sees it again once it creates the person again.
    expect(await store.userById(provisioned)).toMatchObject({ username: 'j.smith@hospital.example' });
    await other.scim.showUser(provisioned);
    expect((await ids({ externalIds: ['obj-1'] })).ids).toEqual([provisioned]);
    expect(await t.audit('user.deprovisioned')).toEqual([['user.deprovisioned', provisioned]]);
  });

  it('stores groups with their members: one name per group whatever its case, members that are accounts, changes that change something audited', async () => {
    const { store, other } = t;
    const [a, b, c] = [await t.user(), await t.user(), await t.user()] as [UserId, UserId, UserId];
    const icu = await store.scim.createGroup({ displayName: ' ICU nurses ', externalId: 'grp-1', members: [a, b, a] }, by(NOW));
    expect(icu).toMatchObject({ displayName: 'ICU nurses', externalId: 'grp-1', members: [a, b], createdAt: NOW, lastModifiedAt: NOW });
    expect(await refusedGroup(other.scim.createGroup({ displayName: 'icu NURSES', externalId: null, members: [] }, by(NOW)))).toBe('displayNameTaken');
    expect(await refusedGroup(other.scim.createGroup({ displayName: 'Cardiology', externalId: null, members: [a, UserIdSchema.parse(randomUUID())] }, by(NOW)))).toBe('unknownMember');
    expect(await refusedGroup(other.scim.createGroup({ displayName: '  ', externalId: null, members: [] }, by(NOW)))).toBe('invalid');
    const cardiology = await other.scim.createGroup({ displayName: 'Cardiology', externalId: null, members: [] }, by(NOW + 1));

    const find = async (query: Parameters<typeof store.scim.groups>[0]) => (await other.scim.groups(query, { offset: 0, limit: 10 })).groups.map((g) => g.displayName);
    expect(await find({})).toEqual(['ICU nurses', 'Cardiology']);
    expect(await find({ displayNames: ['cardiology'] })).toEqual(['Cardiology']);
    expect(await find({ externalIds: ['grp-1'] })).toEqual(['ICU nurses']);
    expect(await find({ members: [b] })).toEqual(['ICU nurses']);
    expect(await find({ ids: [cardiology.id], members: [b] })).toEqual([]);
    expect(await other.scim.groups({}, { offset: 1, limit: 0 })).toEqual({ total: 2, groups: [] });

    // Entra's PATCH: add one already there and one new, remove one; then a PATCH that changes nothing.
    const changed = await other.scim.updateGroup(icu.id, { addMembers: [b, c], removeMembers: [a] }, by(NOW + 2));
    expect(changed).toMatchObject({ members: [b, c], lastModifiedAt: NOW + 2, createdAt: NOW });
    expect(await store.scim.updateGroup(icu.id, { addMembers: [c], removeMembers: [a] }, by(NOW + 3))).toMatchObject({ lastModifiedAt: NOW + 2 });
    expect(await store.scim.updateGroup(icu.id, { displayName: 'Cardiology', addMembers: [], removeMembers: [] }, by(NOW + 3)).then(() => 'stored', (e: unknown) => (e as ScimGroupRefused).reason)).toBe('displayNameTaken');
    expect(await store.scim.updateGroup(icu.id, { displayName: 'ICU Nurses', replaceMembers: [a], addMembers: [], removeMembers: [] }, by(NOW + 4))).toMatchObject({ displayName: 'ICU Nurses', members: [a] });
    expect(await store.scim.updateGroup(randomUUID(), { addMembers: [a], removeMembers: [] }, by(NOW))).toBeNull();

    expect(await other.scim.deleteGroup(cardiology.id, by(NOW + 5))).toBe(true);
    expect(await store.scim.deleteGroup(cardiology.id, by(NOW + 5))).toBe(false);
    expect(await find({})).toEqual(['ICU Nurses']);
    // The name is free again.
    await store.scim.createGroup({ displayName: 'cardiology', externalId: null, members: [] }, by(NOW + 6));

    const records = (await store.auditRecordsAfter(0, 100, { types: ['group.provisioned', 'group.updated', 'group.deleted'] })).map((r) => [r.type, r.actor, r.details]);
    expect(records).toEqual([
      ['group.provisioned', 'scim:entra-prod', { source: 'scim', sourceName: 'entra-prod', displayName: 'ICU nurses', externalId: 'grp-1', memberCount: 2, members: `${a} ${b}`, membersCount: 2 }],
      ['group.provisioned', 'scim:entra-prod', { source: 'scim', sourceName: 'entra-prod', displayName: 'Cardiology', externalId: null, memberCount: 0 }],
      ['group.updated', 'scim:entra-prod', { source: 'scim', sourceName: 'entra-prod', changed: 'members', displayName: 'ICU nurses', memberCount: 2, added: c, addedCount: 1, removed: a, removedCount: 1 }],
      ['group.updated', 'scim:entra-prod', { source: 'scim', sourceName: 'entra-prod', changed: 'displayName,members', displayName: 'ICU Nurses', memberCount: 1, added: a, addedCount: 1, removed: `${b} ${c}`, removedCount: 2 }],
      ['group.deleted', 'scim:entra-prod', { source: 'scim', sourceName: 'entra-prod', displayName: 'Cardiology', memberCount: 0 }],
      ['group.provisioned', 'scim:entra-prod', { source: 'scim', sourceName: 'entra-prod', displayName: 'cardiology', externalId: null, memberCount: 0 }],
    ]);
  });

  it('lets one of two instances creating groups of one name at once have it', async () => {
    const results = await Promise.allSettled([0, 1, 2, 3].map((i) => t.either(i).scim.createGroup({ displayName: i % 2 === 0 ? 'Ward 4' : 'WARD 4', externalId: null, members: [] }, by(NOW))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as ScimGroupRefused).reason).toBe('displayNameTaken');
    expect((await t.store.scim.groups({}, { offset: 0, limit: 10 })).total).toBe(1);
  });

  it('keeps each token source\'s groups to itself: another source finds, changes and deletes none of them; a replacing token keeps them', async () => {
    const { store, other } = t;
    const a = await t.user();
    await store.scim.createToken('entra-prod', sha256Hex('token-e'), NOW, NOW + YEAR, tokenAudit('scim.token_created', 'entra-prod'));
    await store.scim.createToken('test-app', sha256Hex('token-t'), NOW, NOW + YEAR, tokenAudit('scim.token_created', 'test-app'));
    const icu = await store.scim.createGroup({ displayName: 'ICU', externalId: 'grp-icu', members: [a] }, by(NOW));
    const names = async (owner: string) => (await other.scim.groups({ owner }, { offset: 0, limit: 10 })).groups.map((g) => g.displayName);
    expect(await names('test-app')).toEqual([]);
    expect((await other.scim.groups({ owner: 'test-app', externalIds: ['grp-icu'] }, { offset: 0, limit: 10 })).total).toBe(0);
    expect(await other.scim.updateGroup(icu.id, { replaceMembers: [], addMembers: [], removeMembers: [] }, by(NOW + 1, TEST))).toBeNull();
    expect(await other.scim.deleteGroup(icu.id, by(NOW + 1, TEST))).toBe(false);
    // One name, one group, whatever the source (a role mapped by name must name one group).
    expect(await refusedGroup(other.scim.createGroup({ displayName: 'icu', externalId: null, members: [] }, by(NOW, TEST)))).toBe('displayNameTaken');
    expect(await names(OWNER)).toEqual(['ICU']);
    expect((await other.scim.groups({ ids: [icu.id] }, { offset: 0, limit: 1 })).groups[0]?.members).toEqual([a]);

    // Rotation: the new token takes the old one's source, and with it the groups.
    await other.scim.createToken('entra-2027', sha256Hex('token-e2'), NOW + 2, NOW + YEAR, tokenAudit('scim.token_created', 'entra-2027'), 'entra-prod');
    expect(await store.scim.tokenByHash(sha256Hex('token-e2'))).toMatchObject({ name: 'entra-2027', source: 'entra-prod' });
    await expectFailure(store.scim.createToken('okta-2027', sha256Hex('token-o2'), NOW + 2, NOW + YEAR, tokenAudit('scim.token_created', 'okta-2027'), 'okta'), 'NOT_FOUND');
    expect(await store.scim.tokenByHash(sha256Hex('token-o2'))).toBeUndefined();
    expect(await t.audit('group.updated', 'group.deleted')).toEqual([]);
  });

  it('updates the roles mapped to a group in the group write\'s own transaction, and only those roles', async () => {
    const { store, other } = t;
    const [a, b] = [await t.user({ status: 'active' }), await t.user({ status: 'active' })];
    const role = async (name: string) => store.roles.createRole({ id: RoleIdSchema.parse(randomUUID()), name, department: null, timeZone: 'Europe/London', backup: null }, NOW, []);
    const [icuRole, cardioRole] = [await role('ICU on call'), await role('Cardiology on call')];
    const roleGroups = { 'ICU nurses': 'ICU on call', 'grp-cardio': 'cardiology ON CALL' };
    const mapped = (at: number) => ({ ...by(at), roleGroups });
    const holders = async (id: typeof icuRole.id, at: number) => (await other.roles.shifts(id, at, at + 1)).filter((s) => s.source === 'scim').map((s) => s.userId).sort();

    // Made before the map applied: nothing follows it until a write touches it (or the hourly pass runs).
    await store.scim.createGroup({ displayName: 'Cardiology', externalId: 'grp-cardio', members: [b] }, by(NOW));
    const icu = await store.scim.createGroup({ displayName: 'ICU Nurses', externalId: null, members: [a] }, mapped(NOW + 1));
    expect(await holders(icuRole.id, NOW + 1)).toEqual([a]);
    expect(await holders(cardioRole.id, NOW + 1)).toEqual([]);

    await other.scim.updateGroup(icu.id, { addMembers: [b], removeMembers: [a] }, mapped(NOW + 2));
    expect(await holders(icuRole.id, NOW + 2)).toEqual([b]);
    // A write refused (a member that is no account) changes no role either.
    await refusedGroup(store.scim.updateGroup(icu.id, { addMembers: [UserIdSchema.parse(randomUUID())], removeMembers: [b] }, mapped(NOW + 3)));
    expect(await holders(icuRole.id, NOW + 3)).toEqual([b]);
    // Renamed away from its mapped name: the role loses its holders from it in the same write.
    await store.scim.updateGroup(icu.id, { displayName: 'ICU (old)', addMembers: [], removeMembers: [] }, mapped(NOW + 4));
    expect(await holders(icuRole.id, NOW + 4)).toEqual([]);
    expect(await holders(cardioRole.id, NOW + 4)).toEqual([]);

    const records = (await store.auditRecordsAfter(0, 100, { types: ['shift.added', 'shift.removed'] })).map((r) => [r.type, r.actor, r.subject, r.details.role]);
    expect(records).toEqual([
      ['shift.added', 'scim:entra-prod', a, 'ICU on call'],
      ['shift.added', 'scim:entra-prod', b, 'ICU on call'],
      ['shift.removed', 'scim:entra-prod', a, 'ICU on call'],
      ['shift.removed', 'scim:entra-prod', b, 'ICU on call'],
    ]);
  });

  it('binds each mapped key to one token source: another source\'s group with that name or externalId grants nothing and ends nothing', async () => {
    const { store, other } = t;
    const [a, b] = [await t.user({ status: 'active' }), await t.user({ status: 'active' })];
    const icuRole = await store.roles.createRole({ id: RoleIdSchema.parse(randomUUID()), name: 'ICU on call', department: null, timeZone: 'Europe/London', backup: null }, NOW, []);
    const roleGroups = { 'grp-icu': 'ICU on call' };
    const holders = async (at: number) => (await other.roles.shifts(icuRole.id, at, at + 1)).filter((s) => s.source === 'scim').map((s) => s.userId).sort();

    const icu = await store.scim.createGroup({ displayName: 'ICU', externalId: 'grp-icu', members: [a] }, { ...by(NOW), roleGroups });
    expect(await holders(NOW)).toEqual([a]);
    // A second token's group with the mapped key as externalId: the key does not become ambiguous, the role keeps a.
    const fake = await other.scim.createGroup({ displayName: 'Fake ICU', externalId: 'grp-icu', members: [b] }, { ...by(NOW + 1, TEST), roleGroups });
    expect(await holders(NOW + 1)).toEqual([a]);
    expect(await syncScimRoleGroups(other, roleGroups, SCIM_CONFIG_PASS, NOW + 2, true)).toMatchObject({ changed: [], ambiguousGroups: [] });
    expect(await holders(NOW + 2)).toEqual([a]);
    // The bound source's group gone, the other's still answers to the key: it still grants nothing.
    expect(await store.scim.deleteGroup(icu.id, { ...by(NOW + 3), roleGroups })).toBe(true);
    await other.scim.updateGroup(fake.id, { addMembers: [a], removeMembers: [] }, { ...by(NOW + 4, TEST), roleGroups });
    await syncScimRoleGroups(store, roleGroups, SCIM_CONFIG_PASS, NOW + 5, true);
    expect(await holders(NOW + 5)).toEqual([]);
    expect((await store.scim.mappedGroups(['grp-icu'], NOW + 5)).get('grp-icu')).toEqual([]);
  });

  it('leaves a key that two sources\' groups answer to at the first look unbound: it grants nothing until one is gone', async () => {
    const { store, other } = t;
    const [a, b] = [await t.user({ status: 'active' }), await t.user({ status: 'active' })];
    const role = await store.roles.createRole({ id: RoleIdSchema.parse(randomUUID()), name: 'Cardiology on call', department: null, timeZone: 'Europe/London', backup: null }, NOW, []);
    const holders = async (at: number) => (await other.roles.shifts(role.id, at, at + 1)).filter((s) => s.source === 'scim').map((s) => s.userId).sort();
    // Both groups exist before the key is mapped (the config changed later): neither source is chosen for it.
    const real = await store.scim.createGroup({ displayName: 'Cardiology', externalId: 'grp-cardio', members: [a] }, by(NOW));
    const fake = await other.scim.createGroup({ displayName: 'Cardio (test)', externalId: 'grp-cardio', members: [b] }, by(NOW + 1, TEST));
    const roleGroups = { 'grp-cardio': 'Cardiology on call' };
    await syncScimRoleGroups(store, roleGroups, SCIM_CONFIG_PASS, NOW + 2, true);
    expect(await holders(NOW + 2)).toEqual([]);
    expect((await store.scim.mappedGroups(['grp-cardio'], NOW + 2)).get('grp-cardio')).toEqual([]);
    // The test group goes: the key is bound to the one source left, and its group grants the role.
    await store.scim.updateGroup(real.id, { addMembers: [], removeMembers: [] }, { ...by(NOW + 3), roleGroups });
    expect(await holders(NOW + 3)).toEqual([]);
    expect(await other.scim.deleteGroup(fake.id, { ...by(NOW + 4, TEST), roleGroups })).toBe(true);
    await syncScimRoleGroups(store, roleGroups, SCIM_CONFIG_PASS, NOW + 5, true);
    expect(await holders(NOW + 5)).toEqual([a]);
  });

  it('keeps a role fed by two groups right when both are written at once on two instances, beside the rota\'s own writes', async () => {
    const users = [await t.user({ status: 'active' }), await t.user({ status: 'active' }), await t.user({ status: 'active' }), await t.user({ status: 'active' })];
    const role = await t.store.roles.createRole({ id: RoleIdSchema.parse(randomUUID()), name: 'Ward 4 on call', department: null, timeZone: 'Europe/London', backup: null }, NOW, []);
    const roleGroups = { 'Ward 4 day': 'Ward 4 on call', 'Ward 4 night': 'Ward 4 on call' };
    const mapped = (at: number) => ({ ...by(at), roleGroups });
    const day = await t.store.scim.createGroup({ displayName: 'Ward 4 day', externalId: null, members: [] }, mapped(NOW));
    const night = await t.store.scim.createGroup({ displayName: 'Ward 4 night', externalId: null, members: [] }, mapped(NOW));
    for (let round = 1; round <= 12; round++) {
      const at = NOW + round;
      // Each round, each group swaps who it has: whatever order the two writes commit in, the role holds both groups' members.
      const [inDay, inNight] = round % 2 === 0 ? [users[0]!, users[1]!] : [users[2]!, users[3]!];
      const [outDay, outNight] = round % 2 === 0 ? [users[2]!, users[3]!] : [users[0]!, users[1]!];
      // An admin's shift at the same moment: the role's and the audit log's locks are taken in one order (no deadlock).
      const shift = { userId: users[round % 4]!, startsAt: at + HOUR, endsAt: at + 2 * HOUR };
      await Promise.all([
        t.either(round).scim.updateGroup(day.id, { addMembers: [inDay], removeMembers: [outDay] }, mapped(at)),
        t.either(round + 1).scim.updateGroup(night.id, { addMembers: [inNight], removeMembers: [outNight] }, mapped(at)),
        t.either(round).roles.addShifts(role.id, [shift], { source: 'app', actor: 'admin:ops', at }, (added) => added.map((s) => shiftAudit('shift.added', 'admin:ops', role.name, s))),
      ]);
      const held = (await t.store.roles.shifts(role.id, at, at + 1)).filter((s) => s.source === 'scim').map((s) => s.userId).sort();
      expect(held, `round ${round}`).toEqual([inDay, inNight].sort());
    }
  });

  it('leaves a deactivated account out of a group the provider sends it in, so it holds no role once reactivated', async () => {
    const { store, other } = t;
    const [a, left] = [await t.user({ status: 'active' }), await t.user({ status: 'active' })];
    await store.deactivateUser(left, NOW, []);
    const role = await store.roles.createRole({ id: RoleIdSchema.parse(randomUUID()), name: 'ICU on call', department: null, timeZone: 'Europe/London', backup: null }, NOW, []);
    const roleGroups = { ICU: 'ICU on call' };
    // Providers keep disabled people in their groups and send them with the rest: the write goes through without them.
    const icu = await store.scim.createGroup({ displayName: 'ICU', externalId: null, members: [a, left] }, { ...by(NOW), roleGroups });
    expect(icu.members).toEqual([a]);
    await other.scim.updateGroup(icu.id, { addMembers: [left], removeMembers: [] }, { ...by(NOW + 1), roleGroups });
    await store.scim.updateGroup(icu.id, { replaceMembers: [a, left], addMembers: [], removeMembers: [] }, { ...by(NOW + 1), roleGroups });
    expect((await store.scim.groups({ ids: [icu.id] }, { offset: 0, limit: 1 })).groups[0]?.members).toEqual([a]);
    await store.updateUser(left, { status: 'active', deactivatedAt: null }, []);
    expect((await store.roles.shifts(role.id, NOW + 2, NOW + 3)).map((s) => s.userId)).toEqual([a]);
  });
}
