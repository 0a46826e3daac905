import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../fixtures/postgres';

/*
 * Issue 17 runs the relay on PostgreSQL. Its tests start their own server: a new cluster in a temp
 * directory, loopback only, a free port, an unprivileged owner, a password sign-in, stopped by its PID.
 */
const unavailable = postgresUnavailable();

function clientConfig(url: string, password: string): pg.ClientConfig {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port), user: decodeURIComponent(parsed.username), database: parsed.pathname.slice(1), password };
}
if (unavailable) console.log(`PostgreSQL tests skipped: ${unavailable}`);

describe.skipIf(unavailable !== null)('the PostgreSQL that tests start', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('takes a password sign-in on loopback, as a relay would, and runs as an unprivileged user', async () => {
    const client = new pg.Client(clientConfig(server.url, readFileSync(server.passwordFile, 'utf8').trim()));
    await client.connect();
    try {
      const row = (await client.query<{ db: string; who: string; listen: string }>(`SELECT current_database() AS db, current_user AS who, current_setting('listen_addresses') AS listen`)).rows[0];
      expect(row).toEqual({ db: 'rounds', who: 'rounds', listen: '127.0.0.1' });
      const owner = readFileSync(`/proc/${server.pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)?.[1];
      expect(owner).not.toBe('0');
    } finally {
      await client.end();
    }
  });

  it('refuses a wrong password', async () => {
    const client = new pg.Client(clientConfig(server.url, 'not-the-password'));
    await expect(client.connect()).rejects.toThrow(/password authentication failed/);
  });

  it('is gone once stopped, port closed', async () => {
    const other = await startPostgres();
    await other.stop();
    await expect(new Promise((resolve, reject) => {
      const socket = connect(other.port, '127.0.0.1', () => resolve(socket.end()));
      socket.once('error', reject);
    })).rejects.toThrow(/ECONNREFUSED/);
  });
});
