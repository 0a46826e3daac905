import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { Client, InvalidCredentialsError, SizeLimitExceededError } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slapdUnavailable, startSlapd, type TestSlapd } from '../fixtures/slapd';

/*
 * Issue 18 reads people from LDAP / Active Directory. Its tests start their own slapd: its own config and
 * database in a temp directory, loopback only, a free port, an unprivileged user, stopped by its PID.
 */
const unavailable = slapdUnavailable();
if (unavailable) console.log(`slapd tests skipped: ${unavailable}`);

const people = (count: number, ou: string) => Array.from({ length: count }, (_, i) => [
  `dn: uid=p${i},${ou}`, 'objectClass: inetOrgPerson', `uid: p${i}`, `cn: Person ${i}`, 'sn: Person', '',
].join('\n')).join('\n');

describe.skipIf(unavailable !== null)('the slapd that tests start', () => {
  let slapd: TestSlapd;
  beforeAll(async () => {
    slapd = await startSlapd({
      sizeLimit: 5,
      ldif: [`dn: ou=people,dc=hospital,dc=example`, 'objectClass: organizationalUnit', 'ou: people', '', people(12, 'ou=people,dc=hospital,dc=example')].join('\n'),
    });
  });
  afterAll(async () => {
    await slapd?.stop();
  });

  const reader = async () => {
    const client = new Client({ url: slapd.url, timeout: 5_000 });
    await client.bind(slapd.readerDn, readFileSync(slapd.readerPasswordFile, 'utf8').trim());
    return client;
  };

  it('serves its suffix on loopback to the service account, as an unprivileged user', async () => {
    expect(slapd.url).toMatch(/^ldap:\/\/127\.0\.0\.1:\d+$/);
    const client = await reader();
    try {
      const { searchEntries } = await client.search(slapd.suffix, { scope: 'base', attributes: ['o'] });
      expect(searchEntries.map((e) => e['o'])).toEqual(['Hospital']);
    } finally {
      await client.unbind();
    }
    const owner = readFileSync(`/proc/${slapd.pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)?.[1];
    expect(owner).not.toBe('0');
  });

  it('holds the service account to its size limit unless it pages', async () => {
    const client = await reader();
    try {
      await expect(client.search('ou=people,dc=hospital,dc=example', { filter: '(uid=*)', attributes: ['uid'] })).rejects.toBeInstanceOf(SizeLimitExceededError);
      const paged = await client.search('ou=people,dc=hospital,dc=example', { filter: '(uid=*)', attributes: ['uid'], paged: { pageSize: 4 } });
      expect(paged.searchEntries).toHaveLength(12);
    } finally {
      await client.unbind();
    }
  });

  it('refuses a wrong password', async () => {
    const client = new Client({ url: slapd.url, timeout: 5_000 });
    await expect(client.bind(slapd.readerDn, 'not-the-password')).rejects.toBeInstanceOf(InvalidCredentialsError);
    await client.unbind();
  });

  it('adds, moves and removes entries for the test', async () => {
    await slapd.modify(`dn: ou=leavers,dc=hospital,dc=example\nobjectClass: organizationalUnit\nou: leavers\n`);
    await slapd.move('uid=p3,ou=people,dc=hospital,dc=example', 'ou=leavers,dc=hospital,dc=example');
    await slapd.remove('uid=p4,ou=people,dc=hospital,dc=example');
    const client = await reader();
    try {
      const moved = await client.search('ou=leavers,dc=hospital,dc=example', { filter: '(uid=*)', attributes: ['uid'] });
      expect(moved.searchEntries.map((e) => e.dn)).toEqual(['uid=p3,ou=leavers,dc=hospital,dc=example']);
      const left = await client.search('ou=people,dc=hospital,dc=example', { filter: '(uid=*)', attributes: ['uid'], paged: { pageSize: 4 } });
      expect(left.searchEntries).toHaveLength(10);
    } finally {
      await client.unbind();
    }
  });

  it('is gone once stopped: no process, port closed', async () => {
    const other = await startSlapd();
    await other.stop();
    expect(() => process.kill(other.pid, 0)).toThrow(/ESRCH/);
    await expect(new Promise((resolve, reject) => {
      const socket = connect(other.port, '127.0.0.1', () => resolve(socket.end()));
      socket.once('error', reject);
    })).rejects.toThrow(/ECONNREFUSED/);
  });
});
