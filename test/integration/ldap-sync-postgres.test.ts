/**
 * Issue 18 on relays sharing PostgreSQL (issue 17): every relay runs the LDAP sync timer, one at a time syncs
 * (a session advisory lock in the database), and `rounds-server directory sync` takes the database from the
 * config file's `database` section as serve does; a sync whose lock's session is terminated halfway stops
 * before its next write. Real slapd, real PostgreSQL, real relay processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../server/Clock';
import { DIRECTORY_SYNC_JOB, DirectorySyncRefused, syncFromLdap } from '../../server/directory/LdapSync';
import { readRelayConfigFile } from '../../server/relayConfigFile';
import { PostgresDatabase } from '../../server/storage/postgres/PostgresDatabase';
import { PostgresRelayStore } from '../../server/storage/postgres/PostgresRelayStore';
import { SUFFIX, directorySync, ldapPerson, organizationalUnit, relayConfigFor } from '../fixtures/ldapSync';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../fixtures/postgres';
import { RelayProcess, adminCli } from '../fixtures/relayProcess';
import { slapdUnavailable, startSlapd, type TestSlapd } from '../fixtures/slapd';
import { useTempDirs } from '../fixtures/tempDirs';
import { until } from '../fixtures/workstation';

const unavailable = slapdUnavailable() ?? postgresUnavailable();
if (unavailable) console.log(`LDAP sync on PostgreSQL skipped: ${unavailable}`);

const WARD = `ou=ward-c,${SUFFIX}`;
const CLINIC = `ou=clinic-d,${SUFFIX}`;
/** People in CLINIC: enough that a sync is still writing when the test cuts its lock's session. */
const CLINIC_SIZE = 400;

describe.skipIf(unavailable !== null)('LDAP sync on relays sharing PostgreSQL', () => {
  const dir = useTempDirs();
  let slapd: TestSlapd;
  let pg: TestPostgres;
  let url: string;

  beforeAll(async () => {
    [slapd, pg] = await Promise.all([startSlapd({ ldif: `${organizationalUnit(WARD)}\n${organizationalUnit(CLINIC)}` }), startPostgres()]);
    url = await pg.newDatabase();
    expect(adminCli(['migrate', '--database', url, '--database-password-file', pg.passwordFile]).status).toBe(0);
    await slapd.modify([
      ldapPerson('gblue', WARD, 'Gus Blue', 'g.blue@hospital.example', ['departmentNumber: Neurology']),
      ldapPerson('hred', WARD, 'Hana Red', 'h.red@hospital.example', ['departmentNumber: Neurology']),
    ].join('\n'));
  }, 60_000);
  afterAll(async () => {
    await slapd?.stop();
    await pg?.stop();
  });

  it('two relays sync on their own, each account made once; the command takes the database from the file, and waits its turn', async () => {
    const config = relayConfigFor(slapd, dir(), WARD, {}, { database: { url, passwordFile: pg.passwordFile } });
    const relays = await Promise.all([RelayProcess.start(dir(), ['--config', config]), RelayProcess.start(dir(), ['--config', config])]);
    const db = PostgresDatabase.connect({ url, password: pg.password });
    const store = await PostgresRelayStore.open(db, systemClock);
    try {
      const runs = async () => (await store.auditRecordsAfter(0, 1000, { types: ['directory.synced'] })).map((r) => r.details);
      // Both relays' first syncs, 5 s after each started: two runs, or one when the other found it running.
      await until(async () => (await store.listUsers()).length === 2 && (await runs()).length >= 1, 'the relays\' first sync', 20_000);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect((await store.listUsers()).map((u) => [u.username, u.source]).sort()).toEqual([['g.blue@hospital.example', 'ldap'], ['h.red@hospital.example', 'ldap']]);
      expect((await runs()).filter((d) => d.created !== 0).map((d) => [d.requestedBy, d.created])).toEqual([['relay', 2]]);

      // The command, its database from the config file (no --database): while the lock is held elsewhere it waits its turn.
      await slapd.modify(`dn: uid=hred,${WARD}\nchangetype: modify\nreplace: departmentNumber\ndepartmentNumber: Stroke unit\n`);
      const busy = await store.withExclusiveJob(DIRECTORY_SYNC_JOB, async () => directorySync(config, dir()));
      expect(busy).toMatchObject({ ran: true, value: { status: 1, stderr: expect.stringMatching(/DIRECTORY_SYNC_BUSY: another relay or admin command is running a directory sync now/) } });
      const done = directorySync(config, dir());
      expect(done.stdout).toMatch(/updated 1, unchanged 1/);
      expect((await store.userByUsername('h.red@hospital.example'))?.department).toBe('Stroke unit');
    } finally {
      await store.close();
      for (const relay of relays) await relay.stop();
    }
  });

  it('a sync whose lock session is terminated halfway stops before its next write, says so on a flagged record, and the next run finishes', async () => {
    await slapd.modify(Array.from({ length: CLINIC_SIZE }, (_, i) => ldapPerson(`c${i}`, CLINIC, `Clinician ${i}`, `c${i}@hospital.example`)).join('\n'));
    const clinicDb = await pg.newDatabase();
    expect(adminCli(['migrate', '--database', clinicDb, '--database-password-file', pg.passwordFile]).status).toBe(0);
    const config = (await readRelayConfigFile(relayConfigFor(slapd, dir(), CLINIC))).directory?.ldap;
    expect(config).toBeDefined();
    const db = PostgresDatabase.connect({ url: clinicDb, password: pg.password });
    const store = await PostgresRelayStore.open(db, systemClock);
    try {
      const count = async () => (await store.listUsers()).length;
      const run = syncFromLdap(store, config!, { clock: systemClock, requestedBy: 'test' }).then(() => null, (error: unknown) => error);
      await until(async () => (await count()) >= 20, 'the sync\'s first writes', 20_000);
      // The session holding the sync's lock (the job locks' class: "jobs" in ASCII), cut as a failover would.
      const cut = await db.query<{ done: boolean }>("SELECT pg_terminate_backend(pid) AS done FROM pg_locks WHERE locktype = 'advisory' AND classid = x'6a6f6273'::int::oid AND granted");
      expect(cut.rows.map((r) => r.done)).toEqual([true]);
      const stopped = await run;
      expect(stopped).toBeInstanceOf(DirectorySyncRefused);
      expect(stopped).toMatchObject({ code: 'DIRECTORY_SYNC_LOCK_LOST', message: expect.stringMatching(/lock of the directory-sync job was lost/) });
      const madeBeforeStop = await count();
      expect(madeBeforeStop).toBeLessThan(CLINIC_SIZE);
      // Stopped for good: nothing more is written after the error.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await count()).toBe(madeBeforeStop);
      const runs = (await store.auditRecordsAfter(0, 1000, { types: ['directory.synced'] })).map((r) => [r.flagged, r.details]);
      expect(runs).toEqual([[true, expect.objectContaining({ stopped: 'DIRECTORY_SYNC_LOCK_LOST', requestedBy: 'test', created: expect.any(Number) })]]);
      // The lock went with the session: the next run takes it and does the rest.
      const next = await syncFromLdap(store, config!, { clock: systemClock, requestedBy: 'test' });
      expect(next.counts.created).toBe(CLINIC_SIZE - madeBeforeStop);
      expect(await count()).toBe(CLINIC_SIZE);
    } finally {
      await store.close();
    }
  }, 120_000);
});
