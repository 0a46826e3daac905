import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test/fixtures/tempDirs';
import { systemClock } from '../Clock';
import { openStore } from '../openStore';
import type { SqliteRelayStore } from '../storage/sqlite/SqliteRelayStore';
import type { DirectoryPerson } from './DirectoryPerson';
import type { LdapDirectoryRead } from './ldapDirectory';
import { DEFAULT_CONFIG } from '../RelayConfig';
import { RelayServer } from '../RelayServer';
import type { LdapSyncConfig } from './ldapSyncConfig';
import { DIRECTORY_SYNC_JOB, DirectorySyncRefused, applyDirectoryRead, type DirectorySyncOptions } from './LdapSync';

/*
 * What one sync run decides, against the real SQLite store: who is created, updated, deactivated and
 * reactivated, what the safety rules stop before anything is written, and the one record each run leaves.
 * (test/integration/ldap-sync.test.ts runs the same against slapd and a relay process.)
 */

const person = (n: number, overrides: Partial<DirectoryPerson> = {}): DirectoryPerson => ({
  externalId: `guid-${n}`, username: `p${n}@hospital.example`, displayName: `Person ${n}`, department: 'Cardiology', jobTitle: 'Registrar', contact: null, active: true, ...overrides,
});
const read = (people: DirectoryPerson[], skipped: LdapDirectoryRead['skipped'] = []): LdapDirectoryRead => ({ people, skipped });
const everyone = (n: number) => Array.from({ length: n }, (_, i) => person(i));

describe('one directory sync run', () => {
  const tempDir = useTempDirs();
  let store: SqliteRelayStore;
  const options: DirectorySyncOptions = { maxDeactivationPercent: 20, clock: systemClock };
  const sync = (r: LdapDirectoryRead, extra: Partial<DirectorySyncOptions> = {}) => applyDirectoryRead(store, r, { ...options, ...extra });
  const statuses = async () => Object.fromEntries((await store.listUsers()).map((u) => [u.username, u.status]));
  const summaries = async () => (await store.auditRecordsAfter(0, 10_000, { types: ['directory.synced'] })).map((r) => ({ actor: r.actor, flagged: r.flagged, details: r.details }));
  const refusal = async (promise: Promise<unknown>) => {
    const error = await promise.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(DirectorySyncRefused);
    return error as DirectorySyncRefused;
  };

  beforeEach(() => {
    store = openStore(tempDir());
  });
  afterEach(async () => {
    await store.close();
  });

  it('creates the people read as pending accounts, updates what changed, deactivates whoever is no longer read, and sums each run up', async () => {
    const first = await sync(read(everyone(5), [{ dn: 'cn=Front Desk,ou=people', reason: 'no username' }]), { runId: 'sync-first' });
    expect(first).toEqual({ runId: 'sync-first', counts: { created: 5, updated: 0, unchanged: 0, deactivated: 0, reactivated: 0, refused: 0, skipped: 1 }, refusals: [], skipped: [{ dn: 'cn=Front Desk,ou=people', reason: 'no username' }], roles: { changed: [], missingRoles: [], tooManyMembers: [] } });
    expect(Object.values(await statuses())).toEqual(['pending', 'pending', 'pending', 'pending', 'pending']);
    expect(await store.userByExternalId('ldap', 'guid-2')).toMatchObject({ source: 'ldap', department: 'Cardiology', role: 'clinician' });

    // Person 4 left the group; person 1 moved to Renal.
    const people = everyone(4).map((p) => (p.externalId === 'guid-1' ? { ...p, department: 'Renal' } : p));
    const second = await sync(read(people));
    expect(second.counts).toEqual({ created: 0, updated: 1, unchanged: 3, deactivated: 1, reactivated: 0, refused: 0, skipped: 0 });
    expect(second.runId).toMatch(/^sync-[0-9a-f]{8}$/);
    expect(await statuses()).toMatchObject({ 'p4@hospital.example': 'deactivated', 'p1@hospital.example': 'pending' });
    expect(await store.userByExternalId('ldap', 'guid-1')).toMatchObject({ department: 'Renal' });
    expect(await store.userByExternalId('ldap', 'guid-4')).toMatchObject({ deactivatedBySource: 'ldap' });

    // Back in the group: the sync that deactivated them reactivates them.
    expect((await sync(read(everyone(5)))).counts).toMatchObject({ reactivated: 1, updated: 1, unchanged: 3, deactivated: 0 });
    expect((await store.userByExternalId('ldap', 'guid-4'))?.status).toBe('pending');

    const records = await summaries();
    expect(records).toHaveLength(3);
    expect(records[0]).toEqual({ actor: 'ldap:sync-first', flagged: false, details: { source: 'ldap', sourceName: 'sync-first', read: 5, created: 5, updated: 0, unchanged: 0, deactivated: 0, reactivated: 0, refused: 0, skipped: 1 } });
    // Each change is on record under the run that made it.
    const deactivation = (await store.auditRecordsAfter(0, 10_000, { types: ['account.deactivated'] }))[0];
    expect(deactivation).toMatchObject({ actor: `ldap:${second.runId}`, details: { reason: 'provisioning', source: 'ldap' } });
  });

  it('never deactivates accounts another source keeps, and counts people the directory disables', async () => {
    await sync(read(everyone(5)));
    const admin = { id: '0badc0de-0000-4000-8000-000000000001', username: 'local.admin', displayName: 'Local admin', role: 'admin', status: 'pending', createdAt: 0, lastActiveAt: 0 } as const;
    await store.createUser({ ...admin, id: admin.id as never }, 'code-hash', Date.now() + 60_000, []);
    const result = await sync(read(everyone(5).map((p) => (p.externalId === 'guid-0' ? { ...p, active: false } : p))));
    expect(result.counts).toMatchObject({ deactivated: 1, unchanged: 4 });
    expect(await statuses()).toMatchObject({ 'local.admin': 'pending', 'p0@hospital.example': 'deactivated' });
  });

  it('refuses a read of nobody while accounts come from the directory: nothing deactivated, even when mass deactivation is allowed; a flagged record says so', async () => {
    await sync(read(everyone(3)));
    for (const allowMassDeactivation of [false, true]) {
      const error = await refusal(sync(read([], [{ dn: 'cn=x', reason: 'no username' }]), { allowMassDeactivation }));
      expect(error.code).toBe('DIRECTORY_EMPTY_READ');
      expect(error.message).toMatch(/found nobody \(1 entries skipped\), but 3 accounts come from it: nothing was deactivated.*baseDn, filter/);
    }
    expect(Object.values(await statuses())).toEqual(['pending', 'pending', 'pending']);
    expect((await summaries()).slice(1)).toEqual([
      { actor: expect.stringMatching(/^ldap:sync-/), flagged: true, details: expect.objectContaining({ stopped: 'DIRECTORY_EMPTY_READ', read: 0, skipped: 1 }) },
      { actor: expect.stringMatching(/^ldap:sync-/), flagged: true, details: expect.objectContaining({ stopped: 'DIRECTORY_EMPTY_READ' }) },
    ]);
    // A directory with nobody in it, on a relay with no LDAP accounts: nothing to protect, an ordinary run.
    const fresh = openStore(tempDir());
    try {
      expect((await applyDirectoryRead(fresh, read([]), options)).counts.created).toBe(0);
    } finally {
      await fresh.close();
    }
  });

  it('stops a run that would deactivate more than the allowed share, changing nothing, unless the administrator allows it', async () => {
    await sync(read(everyone(10)));
    // 3 of 10 gone (2 unseen, 1 disabled) is over 20 %: nothing changes, not even the update.
    const people = everyone(8).map((p) => (p.externalId === 'guid-0' ? { ...p, active: false } : p.externalId === 'guid-1' ? { ...p, jobTitle: 'Consultant' } : p));
    const error = await refusal(sync(read(people)));
    expect(error.code).toBe('DIRECTORY_MASS_DEACTIVATION');
    expect(error.message).toMatch(/would deactivate 3 of the 10 active accounts from the directory \(2 no longer read, 1 disabled there\), more than maxDeactivationPercent \(20 %\).*--allow-mass-deactivation/);
    expect(Object.values(await statuses()).filter((s) => s === 'deactivated')).toHaveLength(0);
    expect((await store.userByExternalId('ldap', 'guid-1'))?.jobTitle).toBe('Registrar');
    expect((await summaries()).at(-1)).toMatchObject({ flagged: true, details: { stopped: 'DIRECTORY_MASS_DEACTIVATION', read: 8 } });

    // Two of ten is within 20 %; a higher share lets three through; so does the administrator.
    expect((await sync(read(everyone(8)), { maxDeactivationPercent: 30 })).counts.deactivated).toBe(2);
    expect((await sync(read(everyone(10)))).counts.reactivated).toBe(2);
    expect((await sync(read(people), { allowMassDeactivation: true })).counts).toMatchObject({ deactivated: 3, updated: 1 });
  });

  it('lets one deactivation through however small the directory is', async () => {
    await sync(read(everyone(2)));
    expect((await sync(read(everyone(1)))).counts.deactivated).toBe(1);
  });

  it('counts and names the people the store refuses, and goes on with the rest', async () => {
    await sync(read(everyone(2)));
    const result = await sync(read([...everyone(2), person(7, { username: 'p0@hospital.example' }), person(8, { displayName: 'x'.repeat(500) }), person(9)]));
    expect(result.counts).toMatchObject({ created: 1, unchanged: 2, refused: 2 });
    expect(result.refusals).toEqual([
      { username: 'p0@hospital.example', reason: expect.stringMatching(/belongs to another person of this ldap source/) },
      { username: 'p8@hospital.example', reason: expect.stringMatching(/^displayName: /) },
    ]);
  });
});

describe("the relay's timed directory sync", () => {
  const tempDir = useTempDirs();

  it('leaves a run another relay or admin command is making to it, and logs that as news, not as a failure', async () => {
    const store = openStore(tempDir());
    const lines: { message: string; level: string | undefined }[] = [];
    // The LDAP section is never read: the run stops at the job lock, before it reads the directory.
    const relay = new RelayServer(store, { ...DEFAULT_CONFIG, ldapSync: {} as LdapSyncConfig }, systemClock, (message, level) => void lines.push({ message, level }));
    try {
      const held = await store.withExclusiveJob(DIRECTORY_SYNC_JOB, () => relay.syncDirectory());
      expect(held.ran).toBe(true);
      expect(lines).toEqual([{ message: 'directory sync: another relay or admin command is running a directory sync now; this run was left to it', level: 'info' }]);
    } finally {
      await relay.close();
    }
  });
});
