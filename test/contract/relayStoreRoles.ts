/**
 * The RelayStore contract (relayStoreContract.ts): on-call roles (issue 19). Role names unique in any case
 * (two instances racing for one name: one wins), backups that are accounts or roles without loops, shifts
 * read by the window they overlap, an import replacing what it covers in one transaction, the scheduler
 * permission; every change audited in the same transaction and seen by the other instance at once.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { RoleIdSchema, STANDING_SHIFT_END, type RoleId } from '../../shared/wire/roles';
import type { AuditEvent } from '../../server/audit/AuditRecord';
import type { NewRole, RoleStore, StandingHoldersChange } from '../../server/storage/RoleStore';
import { HOUR, NOW, expectFailure, settled, type ContractStores } from './relayStoreStores';

const newRole = (name: string, extra: Partial<NewRole> = {}): NewRole => ({ id: RoleIdSchema.parse(randomUUID()), name, department: null, timeZone: 'Europe/London', backup: null, ...extra });
const audit = (type: AuditEvent['type'], subject = ''): AuditEvent[] => [{ type, actor: 'admin:ops', subject, details: {} }];
const create = (store: RoleStore, role: NewRole) => store.createRole(role, NOW, audit('role.created', role.id));
const provenance = { source: 'cli' as const, actor: 'admin:ops', at: NOW };

export function relayStoreRoles(t: ContractStores): void {
  it('keeps roles with unique names in any case, found by id, name and search on either instance', async () => {
    const { store, other } = t;
    const cardiology = await create(store.roles, newRole('Cardiology on call', { department: 'Cardiology' }));
    expect(await other.roles.roleById(cardiology.id)).toEqual({ ...cardiology, createdAt: NOW, updatedAt: NOW });
    expect((await other.roles.roleByName('CARDIOLOGY ON CALL'))?.id).toBe(cardiology.id);
    await expectFailure(create(other.roles, newRole('cardiology on call')), 'BAD_REQUEST');
    const ward = await create(other.roles, newRole('Ward 4 charge nurse', { timeZone: 'America/New_York' }));
    expect((await store.roles.listRoles()).map((r) => r.name)).toEqual(['Cardiology on call', 'Ward 4 charge nurse']);
    expect((await store.roles.searchRoles('cardio', 10)).map((r) => r.id)).toEqual([cardiology.id]);
    expect((await store.roles.searchRoles('CARDIOLOGY', 10)).map((r) => r.id)).toEqual([cardiology.id]);
    expect((await store.roles.searchRoles('', 1)).map((r) => r.id)).toEqual([cardiology.id]);
    expect((await store.roles.searchRoles('nurse', 10)).map((r) => r.id)).toEqual([ward.id]);
    // Two instances creating one name at once: one role.
    const racing = settled(await Promise.allSettled([0, 1, 2, 3].map((i) => create(t.either(i).roles, newRole(i % 2 ? 'ICU outreach' : 'icu OUTREACH')))));
    expect(racing.fulfilled).toHaveLength(1);
    expect(racing.codes).toEqual(['BAD_REQUEST', 'BAD_REQUEST', 'BAD_REQUEST']);
    expect(await t.audit('role.created')).toHaveLength(3);
  });

  it('changes a role, with a backup that is an active account or another role, never a loop', async () => {
    const { store, other } = t;
    const lee = await t.user({ username: 'lee' });
    const a = await create(store.roles, newRole('Cardiology on call'));
    const b = await create(store.roles, newRole('Cardiology registrar', { backup: { kind: 'role', roleId: a.id } }));
    const changed = await other.roles.updateRole(a.id, { backup: { kind: 'user', userId: lee }, department: 'Cardiology', timeZone: 'Europe/Dublin' }, NOW + 1, audit('role.updated', a.id));
    expect(changed).toMatchObject({ backup: { kind: 'user', userId: lee }, department: 'Cardiology', timeZone: 'Europe/Dublin', updatedAt: NOW + 1 });
    expect(await store.roles.roleById(a.id)).toEqual(changed);
    await expectFailure(store.roles.updateRole(a.id, { backup: { kind: 'role', roleId: b.id } }, NOW, audit('role.updated', a.id)), 'BAD_REQUEST');
    await expectFailure(store.roles.updateRole(a.id, { backup: { kind: 'role', roleId: a.id } }, NOW, audit('role.updated', a.id)), 'BAD_REQUEST');
    await expectFailure(store.roles.updateRole(b.id, { name: 'CARDIOLOGY ON CALL' }, NOW, audit('role.updated', b.id)), 'BAD_REQUEST');
    await expectFailure(create(store.roles, newRole('Orphan', { backup: { kind: 'role', roleId: RoleIdSchema.parse(randomUUID()) } })), 'BAD_REQUEST');
    expect(await store.roles.updateRole(RoleIdSchema.parse(randomUUID()), { name: 'x' }, NOW, audit('role.updated'))).toBeUndefined();
    await store.deactivateUser(lee, NOW, []);
    await expectFailure(store.roles.updateRole(b.id, { backup: { kind: 'user', userId: lee } }, NOW, audit('role.updated', b.id)), 'BAD_REQUEST');
    expect(await t.audit('role.updated')).toEqual([['role.updated', a.id]]);
  });

  it('reads shifts by the window they overlap, adds and removes them, and an import replaces what its span covers', async () => {
    const { store, other } = t;
    const [lee, patel] = [await t.user({ username: 'lee' }), await t.user({ username: 'patel' })];
    const role = await create(store.roles, newRole('Cardiology on call'));
    const day = (userId: typeof lee, n: number) => ({ userId, startsAt: NOW + n * 12 * HOUR, endsAt: NOW + (n + 1) * 12 * HOUR });
    const added = await store.roles.addShifts(role.id, [day(lee, 0), day(patel, 1)], provenance, (shifts) => shifts.map((s) => audit('shift.added', s.userId)[0]!));
    expect(added.map((s) => [s.userId, s.source, s.createdBy])).toEqual([[lee, 'cli', 'admin:ops'], [patel, 'cli', 'admin:ops']]);
    expect((await other.roles.shifts(role.id, NOW + 12 * HOUR - 1, NOW + 12 * HOUR)).map((s) => s.userId)).toEqual([lee]);
    expect((await other.roles.shifts(role.id, NOW + 12 * HOUR, NOW + 13 * HOUR)).map((s) => s.userId)).toEqual([patel]);
    expect(await other.roles.shifts(role.id, NOW + 24 * HOUR, NOW + 48 * HOUR)).toEqual([]);
    expect(await other.roles.shiftById(role.id, added[0]!.id)).toEqual(added[0]);

    // An import over the second half: Patel's shift replaced by two of Lee's; the first untouched.
    const done = await other.roles.replaceShifts(role.id, { from: NOW + 12 * HOUR, to: NOW + 36 * HOUR }, [day(lee, 1), day(lee, 2)], { ...provenance, source: 'csv' }, (d) => [{ type: 'schedule.imported', actor: 'admin:ops', subject: role.id, details: { added: d.added.length, removed: d.removed } }]);
    expect(done.removed).toBe(1);
    expect((await store.roles.shifts(role.id, NOW, NOW + 48 * HOUR)).map((s) => [s.userId, s.source])).toEqual([[lee, 'cli'], [lee, 'csv'], [lee, 'csv']]);
    // Nothing stored when one shift names someone who cannot hold the role (the transaction is all or nothing).
    await expectFailure(store.roles.replaceShifts(role.id, { from: NOW, to: NOW + 48 * HOUR }, [day(patel, 0), day(randomUUID() as typeof lee, 1)], provenance, () => []), 'BAD_REQUEST');
    expect(await store.roles.shifts(role.id, NOW, NOW + 48 * HOUR)).toHaveLength(3);
    await expectFailure(store.roles.addShifts(RoleIdSchema.parse(randomUUID()) as RoleId, [day(lee, 0)], provenance, () => []), 'NOT_FOUND');

    expect(await store.roles.removeShift(role.id, added[0]!.id, (s) => audit('shift.removed', s.userId))).toBe(true);
    expect(await other.roles.removeShift(role.id, added[0]!.id, (s) => audit('shift.removed', s.userId))).toBe(false);
    expect(await other.roles.shifts(role.id, NOW, NOW + 12 * HOUR)).toEqual([]);
    expect(await t.audit('shift.added', 'schedule.imported', 'shift.removed')).toEqual([['shift.added', lee], ['shift.added', patel], ['schedule.imported', role.id], ['shift.removed', lee]]);
  });

  it('keeps a directory source\'s standing holders: begun for new members, ended for those gone, other sources untouched, audited only on change', async () => {
    const { store, other } = t;
    const [lee, patel, kim] = [await t.user({ username: 'lee' }), await t.user({ username: 'patel' }), await t.user({ username: 'kim' })];
    const role = await create(store.roles, newRole('Ward 4 charge nurse'));
    await store.roles.addShifts(role.id, [{ userId: lee, startsAt: NOW, endsAt: NOW + 12 * HOUR }], provenance, () => []);
    const records = (change: StandingHoldersChange) => [
      ...change.added.map((s) => audit('shift.added', s.userId)[0]!), ...change.ended.map((s) => audit('shift.removed', s.userId)[0]!),
    ];
    const scim = { actor: 'scim:entra-prod', at: NOW };
    const first = await store.roles.setStandingHolders(role.id, 'scim', [lee, patel, lee, randomUUID() as typeof lee], scim, records);
    expect(first.added.map((s) => [s.userId, s.startsAt, s.endsAt, s.source, s.createdBy])).toEqual([lee, patel].sort().map((u) => [u, NOW, STANDING_SHIFT_END, 'scim', 'scim:entra-prod']));
    expect(first.ended).toEqual([]);
    // The same members again: nothing written, nothing audited. Another source's holders are its own.
    expect(await other.roles.setStandingHolders(role.id, 'scim', [patel, lee], { ...scim, at: NOW + 1 }, records)).toEqual({ added: [], ended: [] });
    await other.roles.setStandingHolders(role.id, 'ldap', [kim], { actor: 'ldap:sync-1', at: NOW }, records);
    // Lee leaves the group an hour later: her standing shift ends then (her rota shift stays); Kim joins.
    const later = await other.roles.setStandingHolders(role.id, 'scim', [patel, kim], { ...scim, at: NOW + HOUR }, records);
    expect(later.added.map((s) => s.userId)).toEqual([kim]);
    expect(later.ended.map((s) => [s.userId, s.endsAt])).toEqual([[lee, NOW + HOUR]]);
    const now = async (at: number) => (await store.roles.shifts(role.id, at, at + 1)).map((s) => `${s.userId === lee ? 'lee' : s.userId === patel ? 'patel' : 'kim'}:${s.source}`).sort();
    expect(await now(NOW + 30 * 60_000)).toEqual(['kim:ldap', 'lee:cli', 'lee:scim', 'patel:scim']);
    expect(await now(NOW + 2 * HOUR)).toEqual(['kim:ldap', 'kim:scim', 'lee:cli', 'patel:scim']);
    expect(await now(NOW + 400 * 24 * HOUR)).toEqual(['kim:ldap', 'kim:scim', 'patel:scim']);
    // Emptied at the time Kim's began: hers is removed (it never ran), Patel's ends; LDAP's stays.
    expect((await store.roles.setStandingHolders(role.id, 'scim', [], { ...scim, at: NOW + HOUR }, records)).ended.map((s) => s.userId).sort()).toEqual([kim, patel].sort());
    expect(await now(NOW + 2 * HOUR)).toEqual(['kim:ldap', 'lee:cli']);
    await expectFailure(store.roles.setStandingHolders(RoleIdSchema.parse(randomUUID()) as RoleId, 'scim', [lee], scim, records), 'NOT_FOUND');
    expect((await t.audit('shift.added', 'shift.removed')).length).toBe(2 + 1 + 2 + 2);
  });

  it("takes a deactivated account off every rota from then on: shifts not begun removed, the one under way ended, audited with counts", async () => {
    const { store, other } = t;
    const [lee, patel] = [await t.user({ username: 'lee' }), await t.user({ username: 'patel' })];
    const cardiology = await create(store.roles, newRole('Cardiology on call'));
    const ward = await create(store.roles, newRole('Ward 4 charge nurse'));
    const shift = (userId: typeof lee, from: number, to: number) => ({ userId, startsAt: NOW + from * HOUR, endsAt: NOW + to * HOUR });
    await store.roles.addShifts(cardiology.id, [shift(lee, -12, -2), shift(lee, -2, 6), shift(lee, 12, 24), shift(patel, 6, 12)], provenance, () => []);
    await store.roles.addShifts(ward.id, [shift(lee, 30, 40)], provenance, () => []);
    // Deactivated an hour into the shift under way, on the other instance.
    await other.deactivateUser(lee, NOW - HOUR, audit('account.deactivated', lee));
    const rota = (roleId: RoleId) => store.roles.shifts(roleId, NOW - 24 * HOUR, NOW + 48 * HOUR).then((shifts) => shifts.map((s) => [s.userId === lee ? 'lee' : 'patel', (s.startsAt - NOW) / HOUR, (s.endsAt - NOW) / HOUR]));
    expect(await rota(cardiology.id)).toEqual([['lee', -12, -2], ['lee', -2, -1], ['patel', 6, 12]]);
    expect(await rota(ward.id)).toEqual([]);
    const records = await store.auditRecordsAfter(0, 100, { types: ['shifts.vacated'] });
    expect(records.map((r) => [r.actor, r.subject, r.details])).toEqual([['system', lee, { removed: 2, ended: 1, roles: 'Cardiology on call, Ward 4 charge nurse' }]]);
    // Deactivated again (another source meanwhile): nothing more to remove, nothing recorded again.
    await store.deactivateUser(lee, NOW, audit('account.deactivated', lee));
    expect(await store.auditRecordsAfter(0, 100, { types: ['shifts.vacated'] })).toHaveLength(1);
    // An account with no shift from then on leaves no record.
    await store.deactivateUser(patel, NOW + 13 * HOUR, audit('account.deactivated', patel));
    expect(await t.audit('shifts.vacated')).toEqual([['shifts.vacated', lee]]);
  });

  it('grants and revokes the scheduler permission once each', async () => {
    const { store, other } = t;
    const lee = await t.user({ username: 'lee' });
    expect(await store.roles.isScheduler(lee)).toBe(false);
    expect(await store.roles.grantScheduler(lee, 'admin:ops', NOW, audit('scheduler.granted', lee))).toBe(true);
    expect(await other.roles.grantScheduler(lee, 'admin:ops', NOW, audit('scheduler.granted', lee))).toBe(false);
    expect(await other.roles.isScheduler(lee)).toBe(true);
    expect(await other.roles.schedulers()).toEqual([lee]);
    expect(await other.roles.revokeScheduler(lee, audit('scheduler.revoked', lee))).toBe(true);
    expect(await store.roles.revokeScheduler(lee, audit('scheduler.revoked', lee))).toBe(false);
    expect(await store.roles.isScheduler(lee)).toBe(false);
    expect(await t.audit('scheduler.granted', 'scheduler.revoked')).toEqual([['scheduler.granted', lee], ['scheduler.revoked', lee]]);
  });
}
