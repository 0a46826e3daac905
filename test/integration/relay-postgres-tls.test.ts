import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresDatabase } from '../../server/storage/postgres/PostgresDatabase';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../fixtures/postgres';
import { RelayProcess, adminCli, removeDir, tempDataDir } from '../fixtures/relayProcess';
import { makeCa } from '../fixtures/rsyslogReceiver';

/*
 * Issue 17: a relay talks to a PostgreSQL database on another machine over TLS, and only to the server
 * its CA vouches for. The test cluster refuses plain TCP (pg_hba: hostssl only) and presents a certificate
 * for 127.0.0.1 signed by a CA of the test's own.
 */
const unavailable = postgresUnavailable();
if (unavailable) console.log(`TLS to PostgreSQL skipped: ${unavailable}`);

describe.skipIf(unavailable !== null)('the relay and PostgreSQL over TLS', () => {
  let pg: TestPostgres;
  let dir: string;
  let ca: string;
  let otherCa: string;
  const tlsUrl = (base: string, mode: string, root: string) => `${base}?sslmode=${mode}&sslrootcert=${encodeURIComponent(root)}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rounds-pg-tls-'));
    const authority = makeCa(dir, 'database');
    const server = authority.issue('server', 'serverAuth');
    ca = authority.ca;
    otherCa = makeCa(dir, 'impostor').ca;
    pg = await startPostgres({}, { tls: { certFile: server.cert, keyFile: server.key } });
  }, 60_000);
  afterAll(async () => {
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function sslInUse(url: string): Promise<{ ssl: boolean; version: string }> {
    const db = PostgresDatabase.connect({ url, password: pg.password });
    try {
      const row = (await db.query<{ ssl: boolean; version: string }>('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0];
      if (!row) throw new Error('no pg_stat_ssl row for this connection');
      return row;
    } finally {
      await db.close();
    }
  }

  it('migrates and serves over TLS with verify-full, the link encrypted', async () => {
    const url = tlsUrl(await pg.newDatabase(), 'verify-full', ca);
    const migrated = adminCli(['migrate', '--database', url, '--database-password-file', pg.passwordFile]);
    expect(migrated.status, migrated.stderr).toBe(0);
    expect(await sslInUse(url)).toMatchObject({ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) });
    // A relay on it is ready: its pool and its LISTEN connection both reach the database over TLS.
    const data = tempDataDir();
    const relay = await RelayProcess.start(data, ['--database', url, '--database-password-file', pg.passwordFile]);
    try {
      const ready = await fetch(`${relay.url}/readyz`);
      expect(ready.status, await ready.text()).toBe(200);
    } finally {
      await relay.stop();
      removeDir(data);
    }
  });

  it('refuses a server its CA did not sign, and a name the certificate does not carry (verify-ca takes it)', async () => {
    const base = await pg.newDatabase();
    await expect(sslInUse(tlsUrl(base, 'verify-full', otherCa))).rejects.toThrow(/certificate/);
    // The certificate names 127.0.0.1, not localhost.
    const byName = base.replace('127.0.0.1', 'localhost');
    await expect(sslInUse(tlsUrl(byName, 'verify-full', ca))).rejects.toThrow(/localhost|altnames|Hostname/i);
    expect((await sslInUse(tlsUrl(byName, 'verify-ca', ca))).ssl).toBe(true);
  });

  it('says plainly what is wrong: no TLS to a server that requires it, an unverified mode, a missing CA file', async () => {
    const base = await pg.newDatabase();
    const plain = adminCli(['migrate', '--database', base, '--database-password-file', pg.passwordFile]);
    expect(plain.status).not.toBe(0);
    expect(plain.stderr).toMatch(/no pg_hba.conf entry|SSL off/);
    const unverified = adminCli(['migrate', '--database', `${base}?sslmode=require`, '--database-password-file', pg.passwordFile]);
    expect(unverified.status).not.toBe(0);
    expect(unverified.stderr).toContain('sslmode=require encrypts without checking which server answers');
    const missing = adminCli(['migrate', '--database', tlsUrl(base, 'verify-full', join(dir, 'no-such-ca.pem')), '--database-password-file', pg.passwordFile]);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/cannot read the database's CA certificate .*no-such-ca\.pem \(sslrootcert\): ENOENT/);
    for (const result of [plain, unverified, missing]) expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
