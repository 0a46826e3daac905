import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS } from '../../server/storage/postgres/migrations';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../fixtures/postgres';
import { adminCli, removeDir, tempDataDir } from '../fixtures/relayProcess';

/*
 * Issue 17: `rounds-server migrate` brings a site's PostgreSQL database to the relay's schema. The database
 * is named by --database or ROUNDS_DATABASE_URL; its password comes from a file or PGPASSFILE, never the
 * command line; what goes wrong is said in one line, not a stack trace.
 */
const unavailable = postgresUnavailable();
const newest = POSTGRES_MIGRATIONS.at(-1)!.version;

describe.skipIf(unavailable !== null)('rounds-server migrate', () => {
  let server: TestPostgres;
  let dir: string;
  beforeAll(async () => {
    server = await startPostgres();
    dir = tempDataDir();
  });
  afterAll(async () => {
    await server?.stop();
    removeDir(dir);
  });

  it('migrates a new database with the password from a file, and does nothing the second time', async () => {
    const url = await server.newDatabase();
    const first = adminCli(['migrate', '--database', url, '--database-password-file', server.passwordFile]);
    expect(first.stderr).toBe('');
    expect(first.stdout.trim()).toBe(`migrated the database from schema version 0 to ${newest}`);
    const again = adminCli(['migrate', '--database', url, '--database-password-file', server.passwordFile]);
    expect(again.stdout.trim()).toBe(`the database is at schema version ${newest} already: nothing to do`);
  });

  it('takes the database from ROUNDS_DATABASE_URL and its password from PGPASSFILE', async () => {
    const url = new URL(await server.newDatabase());
    const pgpass = join(dir, 'pgpass');
    writeFileSync(pgpass, `127.0.0.1:${url.port}:${url.pathname.slice(1)}:rounds:${server.password}\n`, { mode: 0o600 });
    const result = adminCli(['migrate'], { env: { ROUNDS_DATABASE_URL: url.href, PGPASSFILE: pgpass } });
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(`migrated the database from schema version 0 to ${newest}`);
  });

  it('refuses a password in the URL, and says plainly when the password is wrong', async () => {
    const url = new URL(await server.newDatabase());
    url.password = 'in-the-url';
    const inUrl = adminCli(['migrate', '--database', url.href]);
    expect(inUrl.status).toBe(1);
    expect(inUrl.stderr.trim()).toBe('error: --database must not hold the password (it would show in process lists and logs): put it in a file (--database-password-file) or PGPASSFILE');
    const wrongFile = join(dir, 'wrong');
    writeFileSync(wrongFile, 'not-the-password\n', { mode: 0o600 });
    url.password = '';
    const wrong = adminCli(['migrate', '--database', url.href, '--database-password-file', wrongFile]);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/^error: cannot reach the database: .*password authentication failed for user "rounds"/);
    expect(wrong.stderr).not.toMatch(/\n\s+at /);
    const missing = adminCli(['migrate', '--database', url.href, '--database-password-file', join(dir, 'nowhere')]);
    expect(missing.stderr).toMatch(/^error: cannot read the database password file .*nowhere/);
  });

  it('takes the database from the relay config file on migrate and on every admin command (--config)', async () => {
    const url = await server.newDatabase();
    const config = join(dir, 'relay.json');
    writeFileSync(config, JSON.stringify({ database: { url, passwordFile: server.passwordFile } }));
    expect(adminCli(['migrate']).stderr.trim()).toMatch(/^error: --database is required: .*--config with a database section/);
    const migrated = adminCli(['migrate', '--config', config]);
    expect(migrated.stderr).toBe('');
    expect(migrated.stdout.trim()).toBe(`migrated the database from schema version 0 to ${newest}`);
    const added = adminCli(['user', 'add', '--config', config, '--data', dir, '--username', 'cfg.nurse', '--display-name', 'Config Nurse', '--role', 'clinician']);
    expect(added.stderr).toBe('');
    // In the site's database, not in an embedded one in --data: read back through --database too.
    expect(adminCli(['user', 'list', '--data', dir, '--database', url, '--database-password-file', server.passwordFile]).stdout).toMatch(/^cfg\.nurse\tConfig Nurse\tclinician\tpending/m);
    expect(adminCli(['backup', '--config', config, '--data', dir, '--out', join(dir, 'b.age')]).stderr).toMatch(/PostgreSQL database is backed up .*not by rounds-server/);
  });
});
