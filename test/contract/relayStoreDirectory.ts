/**
 * The RelayStore contract (relayStoreContract.ts): the hospital's directory (issue 18). Provisioning a person
 * from a source (create, update, adopt, deactivate, reactivate; each change audited with its source, in the
 * same transaction), its refusals, its race across two instances, and the directory search.
 */
import { expect, it } from 'vitest';
import type { DirectoryPerson, ProvisioningSource } from '../../server/directory/DirectoryPerson';
import { ProvisioningRefused } from '../../server/directory/provisioning';
import { MAX_DIRECTORY_RESULTS } from '../../server/storage/RelayStore';
import { NOW, ROOMY, accepted, envelope, type ContractStores } from './relayStoreStores';

const SCIM: ProvisioningSource = { kind: 'scim', tokenName: 'entra-prod' };
const LDAP: ProvisioningSource = { kind: 'ldap', runId: 'sync-0001' };

const person = (overrides: Partial<DirectoryPerson> = {}): DirectoryPerson => ({
  externalId: 'obj-1', username: 'j.smith@hospital.example', displayName: 'Dr. Jo Smith', department: 'Cardiology', jobTitle: 'Registrar', contact: 'Bleep 4471', active: true, ...overrides,
});

export function relayStoreDirectory(t: ContractStores): void {
  /** The provisioning records, as [type, actor, details]. */
  const records = async () => (await t.store.auditRecordsAfter(0, 1000, { types: ['user.provisioned', 'user.updated', 'account.deactivated', 'account.reactivated'] }))
    .map((r) => [r.type, r.actor, r.details]);
  const refusal = async (promise: Promise<unknown>) => {
    const error = await promise.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ProvisioningRefused);
    return { code: (error as ProvisioningRefused).code, reason: (error as ProvisioningRefused).reason, message: (error as Error).message };
  };

  it('keeps an account deactivated once an admin has taken its deactivation over from the source', async () => {
    const { store, other } = t;
    const left = await store.provisionPerson(person({ externalId: 'taken-over', username: 'left@hospital.example', active: false }), SCIM, NOW);
    expect(await store.userById(left.userId)).toMatchObject({ status: 'deactivated', deactivatedBySource: 'scim' });
    // `user deactivate` on it (AccountService.deactivate): the deactivation is the admin's from now on.
    await other.updateUser(left.userId, { deactivatedBySource: null }, []);
    const again = await store.provisionPerson(person({ externalId: 'taken-over', username: 'left@hospital.example', active: true }), SCIM, NOW + 1);
    expect(again.outcome).not.toBe('reactivated');
    expect(await other.userById(left.userId)).toMatchObject({ status: 'deactivated', deactivatedBySource: null });
  });

  it("never takes over or deactivates the relay's own admin and compliance accounts, whatever a source names", async () => {
    const { store, other } = t;
    // A compliance account, as `user add --role compliance` makes it.
    await store.createUser({ id: 'c0000000-0000-4000-8000-00000000000c' as never, username: 'audit.lead@hospital.example', displayName: 'Audit Lead', role: 'compliance', status: 'active', createdAt: NOW, lastActiveAt: NOW }, 'code-hash-c', NOW + 1000, []);
    for (const username of ['audit.lead@hospital.example']) {
      for (const source of [SCIM, LDAP]) {
        const refused = await refusal(other.provisionPerson(person({ externalId: `x-${source.kind}`, username, displayName: 'Someone Else' }), source, NOW));
        expect(refused.reason).toBe('usernameTaken');
        await refusal(store.provisionPerson(person({ externalId: `y-${source.kind}`, username, active: false }), source, NOW));
      }
      expect(await store.userByUsername(username)).toMatchObject({ role: 'compliance', status: 'active', displayName: 'Audit Lead', source: 'admin' });
    }
  });

  it('deprovisions people (a field changed too) while others sign in through the other instance, none refused', async () => {
    const { store, other } = t;
    // Each deprovisioning records a control event and audit records, as every sign-in does: in one lock order.
    const people = Array.from({ length: 12 }, (_, i) => person({ externalId: `left-${i}`, username: `left-${i}`, department: 'Ward 4' }));
    for (const p of people) await store.provisionPerson(p, SCIM, NOW);
    const signingIn = await Promise.all(Array.from({ length: 12 }, () => t.user()));
    const results = await Promise.allSettled([
      (async () => {
        for (const p of people) await store.provisionPerson({ ...p, department: 'Ward 5', active: false }, SCIM, NOW + 1);
      })(),
      ...signingIn.map((userId) => other.addDevice(userId, t.newDevice(), NOW, [{ type: 'device.enrolled', actor: 'test', subject: userId, details: {} }])),
    ]);
    expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    for (const p of people) expect((await other.userByExternalId('scim', p.externalId))?.status).toBe('deactivated');
  });

  it('creates a new person as a pending clinician with their directory fields, then updates only what changed, each audited with its source', async () => {
    const { store, other } = t;
    const created = await store.provisionPerson(person(), SCIM, NOW);
    expect(created).toMatchObject({ outcome: 'created', changed: ['username', 'displayName', 'department', 'jobTitle', 'contact'] });
    expect(await other.userByExternalId('scim', 'obj-1')).toMatchObject({
      id: created.userId, username: 'j.smith@hospital.example', displayName: 'Dr. Jo Smith', role: 'clinician', status: 'pending', passwordHash: null,
      department: 'Cardiology', jobTitle: 'Registrar', contact: 'Bleep 4471', source: 'scim', externalId: 'obj-1', deactivatedBySource: null, deactivatedByScim: null, createdAt: NOW,
    });
    expect(await other.userByExternalId('ldap', 'obj-1')).toBeUndefined();
    // No enrollment code: `user add` or single sign-on gives one.
    expect(await other.userByUsername('j.smith@hospital.example')).toMatchObject({ id: created.userId });

    expect(await other.provisionPerson(person(), SCIM, NOW + 1)).toEqual({ userId: created.userId, outcome: 'unchanged', changed: [] });
    expect(await other.provisionPerson(person({ department: 'Cardiac surgery', contact: '  ' }), SCIM, NOW + 2)).toEqual({ userId: created.userId, outcome: 'updated', changed: ['department', 'contact'] });
    expect(await store.userById(created.userId)).toMatchObject({ department: 'Cardiac surgery', contact: null, jobTitle: 'Registrar', status: 'pending' });
    expect(await records()).toEqual([
      ['user.provisioned', 'scim:entra-prod', {
        source: 'scim', sourceName: 'entra-prod', status: 'pending', externalId: 'obj-1', changed: 'username,displayName,department,jobTitle,contact',
        username: 'j.smith@hospital.example', displayName: 'Dr. Jo Smith', department: 'Cardiology', jobTitle: 'Registrar', contact: 'Bleep 4471',
      }],
      ['user.updated', 'scim:entra-prod', { source: 'scim', sourceName: 'entra-prod', changed: 'department,contact', department: 'Cardiac surgery', contact: null }],
    ]);
  });

  it('renames by externalId, adopts an account made by hand by its username, and refuses another person\'s username, changing nothing', async () => {
    const { store, other } = t;
    const { userId } = await store.provisionPerson(person(), SCIM, NOW);
    // A new surname at the directory: the same person, a new username.
    expect(await other.provisionPerson(person({ username: 'J.Jones@Hospital.example', displayName: 'Dr. Jo Jones' }), SCIM, NOW)).toMatchObject({ userId, outcome: 'updated', changed: ['username', 'displayName'] });
    expect(await store.userByUsername('j.jones@hospital.example')).toMatchObject({ id: userId });
    expect(await store.userByUsername('j.smith@hospital.example')).toBeUndefined();

    const byHand = await t.user({ username: 'asmith' });
    expect(await other.provisionPerson(person({ externalId: 'obj-2', username: 'asmith', displayName: 'Dr. Anna Smith' }), SCIM, NOW)).toMatchObject({ userId: byHand, outcome: 'updated' });
    expect(await store.userById(byHand)).toMatchObject({ source: 'scim', externalId: 'obj-2', status: 'active', displayName: 'Dr. Anna Smith' });

    // obj-3 wants asmith (obj-2's) and obj-1 wants to be renamed to asmith: both refused.
    expect(await refusal(other.provisionPerson(person({ externalId: 'obj-3', username: 'asmith' }), SCIM, NOW))).toMatchObject({ code: 'BAD_REQUEST', reason: 'usernameTaken' });
    expect(await refusal(store.provisionPerson(person({ username: 'asmith' }), SCIM, NOW))).toMatchObject({ reason: 'usernameTaken' });
    expect(await store.userByExternalId('scim', 'obj-3')).toBeUndefined();
    expect(await store.userById(userId)).toMatchObject({ username: 'j.jones@hospital.example' });
    expect((await records()).map(([type]) => type)).toEqual(['user.provisioned', 'user.updated', 'user.updated']);
  });

  it('refuses fields that are not valid, saying which, and writes nothing', async () => {
    const { store } = t;
    const bad: [Partial<DirectoryPerson>, RegExp][] = [
      [{ username: 'j smith@hospital.example' }, /^username: /],
      [{ displayName: '  ' }, /^displayName: /],
      [{ displayName: 'Dr. Jo\u202eSmith' }, /^displayName: no control characters/],
      [{ department: 'Cardio\nlogy' }, /^department: no control characters/],
      [{ jobTitle: 'x'.repeat(129) }, /^jobTitle: /],
      [{ contact: 'x'.repeat(65) }, /^contact: /],
      [{ externalId: '' }, /^externalId: /],
    ];
    for (const [fields, message] of bad) expect((await refusal(store.provisionPerson(person(fields), SCIM, NOW))).message).toMatch(message);
    expect(await store.listUsers()).toEqual([]);
    expect(await records()).toEqual([]);
  });

  it('deactivates as deactivateUser does when the source says the person left, once; only that source kind brings them back', async () => {
    const { store, other } = t;
    const colleague = await t.account();
    const { userId } = await store.provisionPerson(person(), LDAP, NOW);
    const first = await store.addDevice(userId, t.newDevice(), NOW, []);
    await store.addDevice(userId, t.newDevice(), NOW, []);
    const me = { userId, deviceId: first };
    await store.enqueue([envelope(colleague, me)], accepted, ROOMY);

    expect(await other.provisionPerson(person({ active: false, jobTitle: 'Consultant' }), LDAP, NOW + 1)).toMatchObject({ userId, outcome: 'deactivated', changed: ['jobTitle'] });
    expect(await store.userById(userId)).toMatchObject({ status: 'deactivated', deactivatedAt: NOW + 1, deactivatedBySource: 'ldap', jobTitle: 'Consultant' });
    expect((await store.devices(userId)).map((d) => d.revokedAt)).toEqual([NOW + 1, NOW + 1]);
    expect(await store.queued(me, 0, 10)).toEqual([]);
    expect((await store.controlEvents(0)).filter((e) => e.kind !== 'device.added').map((e) => [e.kind, e.userId])).toEqual([['account.deactivated', userId]]);
    expect(await store.provisionPerson(person({ active: false, jobTitle: 'Consultant' }), LDAP, NOW + 2)).toMatchObject({ outcome: 'unchanged' });
    // Another kind of source does not undo the sync's deactivation...
    expect(await store.provisionPerson(person({ externalId: 'scim-1', jobTitle: 'Consultant' }), SCIM, NOW + 3)).toMatchObject({ outcome: 'updated' });
    expect(await store.userById(userId)).toMatchObject({ status: 'deactivated', source: 'scim' });
    // ...nor does a source undo an admin's deactivation.
    const byHand = await t.user({ username: 'cadmin' });
    await store.deactivateUser(byHand, NOW + 4, []);
    expect(await store.provisionPerson(person({ externalId: 'obj-7', username: 'cadmin' }), LDAP, NOW + 4)).toMatchObject({ userId: byHand, outcome: 'updated' });
    expect(await store.userById(byHand)).toMatchObject({ status: 'deactivated', deactivatedBySource: null, source: 'ldap' });
    const other2 = await store.provisionPerson(person({ externalId: 'obj-9', username: 'bthomas', active: false }), LDAP, NOW + 5);
    expect(await store.userById(other2.userId)).toMatchObject({ status: 'deactivated', deactivatedBySource: 'ldap', deactivatedAt: NOW + 5 });
    expect(await other.provisionPerson(person({ externalId: 'obj-9', username: 'bthomas' }), LDAP, NOW + 6)).toMatchObject({ outcome: 'reactivated' });
    expect(await store.userById(other2.userId)).toMatchObject({ status: 'pending', deactivatedAt: null, deactivatedBySource: null, lastActiveAt: NOW + 6 });
    expect((await records()).map(([type, actor, details]) => [type, actor, (details as { reason?: string }).reason ?? null])).toEqual([
      ['user.provisioned', 'ldap:sync-0001', null],
      ['user.updated', 'ldap:sync-0001', null],
      ['account.deactivated', 'ldap:sync-0001', 'provisioning'],
      ['user.updated', 'scim:entra-prod', null],
      ['user.updated', 'ldap:sync-0001', null],
      ['user.provisioned', 'ldap:sync-0001', null],
      ['account.reactivated', 'ldap:sync-0001', null],
    ]);
  });

  it('creates one account when two instances provision the same new person at once', async () => {
    for (let round = 0; round < 5; round++) {
      const racers = [person({ externalId: `race-${round}`, username: `racer${round}`, department: 'A' }), person({ externalId: `race-${round}`, username: `racer${round}`, department: 'B' })];
      const results = await Promise.all(racers.map((p, i) => t.either(i).provisionPerson(p, SCIM, NOW)));
      expect(new Set(results.map((r) => r.userId)).size).toBe(1);
      expect(results.map((r) => r.outcome).sort()).toEqual(['created', 'updated']);
    }
    expect((await t.store.listUsers()).length).toBe(5);
    expect((await records()).filter(([type]) => type === 'user.provisioned')).toHaveLength(5);
  });

  it('searches names, usernames, departments and titles, in any case and without accents; pending included, deactivated not', async () => {
    const { store, other } = t;
    await store.provisionPerson(person({ externalId: 'a', username: 'amuller', displayName: 'Dr. Anna Müller', department: 'Cardiology', jobTitle: 'Consultant' }), SCIM, NOW);
    await store.provisionPerson(person({ externalId: 'b', username: 'bokafor', displayName: 'Ben Okafor', department: 'Ward 4', jobTitle: 'Charge nurse', contact: null }), SCIM, NOW);
    await store.provisionPerson(person({ externalId: 'c', username: 'cgone', displayName: 'Cara Gone', department: 'Cardiology', active: false }), SCIM, NOW);
    const enrolled = await t.user({ username: 'dlee' });
    await other.updateUser(enrolled, { displayName: 'Dr. Dan Lee', department: 'Cardiology', jobTitle: 'Registrar' }, []);
    const names = async (query: string, limit = 50) => (await other.searchDirectory(query, limit)).map((u) => u.username);

    expect(await names('cardio')).toEqual(['amuller', 'dlee']);
    expect(await names('MULLER')).toEqual(['amuller']);
    expect(await names('müll')).toEqual(['amuller']);
    expect(await names('charge NURSE')).toEqual(['bokafor']);
    expect(await names('bokaf')).toEqual(['bokafor']);
    expect(await names('nobody')).toEqual([]);
    expect(await names('%')).toEqual([]);
    expect(await names('')).toEqual(['bokafor', 'amuller', 'dlee']);
    expect(await names('', 2)).toEqual(['bokafor', 'amuller']);
    expect((await store.searchDirectory('okafor', 5))[0]).toEqual({
      id: expect.any(String), username: 'bokafor', displayName: 'Ben Okafor', role: 'clinician', status: 'pending', department: 'Ward 4', jobTitle: 'Charge nurse', contact: null,
    });
    expect((await store.searchDirectory('dan lee', 5))[0]).toMatchObject({ status: 'active', department: 'Cardiology', jobTitle: 'Registrar', contact: null });
    for (let i = 0; i < MAX_DIRECTORY_RESULTS + 5; i++) await t.user({ username: `many-${String(i).padStart(3, '0')}` });
    expect(await names('many', 500)).toHaveLength(MAX_DIRECTORY_RESULTS);
  });

  it('runs a job of one name in one instance at a time; the other is told at once, and runs it once the first is done', async () => {
    const { store, other } = t;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    // The first holds the lock once its job runs (not after a fixed pause: a busy machine takes longer to connect).
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const first = store.withExclusiveJob('directory-sync', async () => {
      started();
      await held;
      return 'first';
    });
    await running;
    expect(await other.withExclusiveJob('directory-sync', async () => 'second')).toEqual({ ran: false });
    // Another job's name is not held.
    expect(await other.withExclusiveJob('other-job', async () => 'other')).toEqual({ ran: true, value: 'other' });
    release();
    expect(await first).toEqual({ ran: true, value: 'first' });
    expect(await other.withExclusiveJob('directory-sync', async () => 'second')).toEqual({ ran: true, value: 'second' });
    // A job that fails lets go of its lock too.
    await expect(store.withExclusiveJob('directory-sync', async () => Promise.reject(new Error('directory down')))).rejects.toThrow('directory down');
    expect(await other.withExclusiveJob('directory-sync', async () => 'again')).toEqual({ ran: true, value: 'again' });
    await expect(store.withExclusiveJob('../escape', async () => 'no')).rejects.toThrow(/not a job name/);
  });
}
