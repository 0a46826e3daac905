/**
 * Issue 18 on relays sharing PostgreSQL (issue 17): every relay runs the LDAP sync timer, one at a time syncs
 * (a session advisory lock in the database), and `rounds-server directory sync` takes the database from the
 * config file's `database` section as serve does. Real slapd, real PostgreSQL, real relay processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../server/Clock';
import { DIRECTORY_SYNC_JOB } from '../../server/directory/LdapSync';
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

describe.skipIf(unavailable !== null)('LDAP sync on relays sharing PostgreSQL', () => {
  const dir = useTempDirs();
  let slapd: TestSlapd;
  let pg: TestPostgres;
  let url: string;

  beforeAll(async () => {
    [slapd, pg] = await Promise.all([startSlapd({ ldif: organizationalUnit(WARD) }), startPostgres()]);
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
});
