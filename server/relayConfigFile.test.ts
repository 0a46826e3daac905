import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { openSiemSink } from './audit/siem/openSiemStream';
import { readRelayConfigFile } from './relayConfigFile';

/* The relay config file: a mistake in it stops `serve` at once with the file, the setting and what is wrong. */
describe('readRelayConfigFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rounds-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const configWith = (value: unknown) => {
    const file = join(dir, `relay-${n++}.json`);
    writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
    return file;
  };

  it('reads a syslog sink with its defaults, paths relative to the file', async () => {
    const file = configWith({ siem: { sink: 'syslog-tls', host: 'siem.hospital.example', caFile: 'ca/siem-ca.pem' } });
    expect(await readRelayConfigFile(file)).toEqual({
      siem: { sink: 'syslog-tls', host: 'siem.hospital.example', port: 6514, caFile: join(dir, 'ca/siem-ca.pem'), facility: 'authpriv', structuredDataId: 'rounds@32473', timeoutMs: 30_000, pollMs: 1000, maxRetryDelayMs: 30_000, batchRecords: 500 },
    });
    expect(await readRelayConfigFile(configWith({}))).toEqual({});
  });

  it('reads admission limits, any left out keeping their default', async () => {
    expect(await readRelayConfigFile(configWith({ admission: { maxEventLoopLagMs: 100, listenBacklog: 8192 } }))).toEqual({ admission: { maxEventLoopLagMs: 100, listenBacklog: 8192 } });
  });

  const ldap = { url: 'ldaps://dc1.hospital.example', caFile: 'ca/ad-ca.pem', bindDn: 'svc-rounds@hospital.example', bindPasswordFile: '/etc/rounds/ldap-bind-password', baseDn: 'OU=Staff,DC=hospital,DC=example', filter: '(memberOf=CN=Rounds,OU=Groups,DC=hospital,DC=example)' };

  it('reads the directory.ldap section with the sync defaults, its relative paths relative to the file', async () => {
    const read = await readRelayConfigFile(configWith({ directory: { ldap } }));
    expect(read.directory?.ldap).toMatchObject({ ...ldap, caFile: join(dir, 'ca/ad-ca.pem'), syncIntervalMinutes: 15, maxDeactivationPercent: 20, pageSize: 500, attributes: { username: ['userPrincipalName'] } });
    expect((await readRelayConfigFile(configWith({ directory: { ldap: { ...ldap, syncIntervalMinutes: 1, maxDeactivationPercent: 50 } } }))).directory?.ldap).toMatchObject({ syncIntervalMinutes: 1, maxDeactivationPercent: 50 });
    expect(await readRelayConfigFile(configWith({ directory: {} }))).toEqual({ directory: {} });
  });

  it.each([
    [{ directory: { ldap: { ...ldap, syncIntervalMinutes: 0 } } }, /directory\.ldap\.syncIntervalMinutes: .*>=0\.1/],
    [{ directory: { ldap: { ...ldap, maxDeactivationPercent: 101 } } }, /directory\.ldap\.maxDeactivationPercent/],
    [{ directory: { ldap: { ...ldap, filter: '(memberOf=' } } }, /directory\.ldap\.filter: filter is not an LDAP filter/],
    [{ directory: { ldap: { ...ldap, caFile: undefined, url: 'ldap://dc1.hospital.example' } } }, /directory\.ldap\.url: .*in the clear/],
    [{ directory: { ldap: { ...ldap, bindPassword: 'hunter2' } } }, /directory\.ldap: .*bindPassword/],
    [{ directory: { ldap: 'ldaps://dc1' } }, /directory\.ldap: .*expected record/],
    [{ directory: { scim: {} } }, /directory: .*scim/],
  ])('refuses the directory section %j', async (value, message) => {
    await expect(readRelayConfigFile(configWith(value))).rejects.toThrow(message);
  });

  it('reads a directory section without LDAP, and then one with it, in a process that has read no LDAP section yet', async () => {
    // The LDAP schema loads with the first file that has the section: a fresh copy of the module, so that no
    // earlier test here has loaded it.
    vi.resetModules();
    const fresh = (await import('./relayConfigFile')).readRelayConfigFile;
    expect(await fresh(configWith({ directory: {} }))).toEqual({ directory: {} });
    await expect(fresh(configWith({ directory: { scim: {} } }))).rejects.toThrow(/directory: .*scim/);
    await expect(fresh(configWith({ directory: { ldap: null } }))).rejects.toThrow(/directory\.ldap: /);
    expect((await fresh(configWith({ directory: { ldap } }))).directory?.ldap).toMatchObject({ syncIntervalMinutes: 15 });
    expect(await fresh(configWith({ directory: {} }))).toEqual({ directory: {} });
  });

  it('reads the identity provider section with its defaults, the client secret file relative to the file', async () => {
    const read = await readRelayConfigFile(configWith({ oidc: { issuer: 'https://login.hospital.example/tenant', clientId: 'rounds', clientSecretFile: 'secrets/oidc-client', requireMfa: true, createAccounts: true, providerName: 'Contoso sign-in' } }));
    expect(read.oidc).toMatchObject({
      issuer: 'https://login.hospital.example/tenant', clientId: 'rounds', clientSecretFile: join(dir, 'secrets/oidc-client'), requireMfa: true, createAccounts: true,
      providerName: 'Contoso sign-in', reauthenticateAfterDays: 7, usernameClaim: 'preferred_username',
    });
    expect((await readRelayConfigFile(configWith({ oidc: { issuer: 'https://login.hospital.example', clientId: 'rounds' } }))).oidc).toMatchObject({ createAccounts: false });
  });

  it.each([
    [{ oidc: { issuer: 'http://login.hospital.example', clientId: 'rounds' } }, /oidc\.issuer: .*https/],
    [{ oidc: { issuer: 'https://login.hospital.example', clientId: 'rounds', reauthenticateAfterDays: 0 } }, /oidc\.reauthenticateAfterDays/],
    [{ oidc: { issuer: 'https://login.hospital.example', clientId: 'rounds', createAcounts: true } }, /oidc: .*createAcounts/],
    [{ siem: { sink: 'syslog-tls', host: 'h', caFile: 'ca.pem', port: 70_000 } }, /siem\.port: .*65535/],
    [{ siem: { sink: 'syslog-tls', host: 'h', caFile: 'ca.pem', clientCertFile: 'c.pem' } }, /clientCertFile and clientKeyFile go together/],
    [{ siem: { sink: 'syslog-tls', host: 'h', caFile: 'ca.pem', facility: 'security' } }, /siem\.facility/],
    [{ siem: { sink: 'syslog-tls', host: 'h', caFile: 'ca.pem', structuredDataId: 'has space' } }, /structuredDataId: an RFC 5424 SD-ID/],
    [{ siem: { sink: 'json-lines', file: 'a.jsonl', fsync: false } }, /siem: .*fsync/],
    [{ siem: { sink: 'json-lines' } }, /siem\.file/],
    [{ siem: { sink: 'journald' } }, /journald is not offered as a SIEM sink/],
    [{ sieem: {} }, /the file: .*sieem/],
    [{ admission: { maxConnecting: 0 } }, /admission\.maxConnecting/],
    [{ admission: { listenBacklog: 70_000 } }, /admission\.listenBacklog/],
    [{ admission: { connectsPerSecond: 1.5 } }, /admission\.connectsPerSecond/],
    [{ admission: { retryAfter: 5 } }, /admission: .*retryAfter/],
    ['[1,', /is not valid JSON/],
  ])('refuses %j', async (value, message) => {
    await expect(readRelayConfigFile(configWith(value))).rejects.toThrow(message);
  });

  it('refuses a CA file without a certificate, and a file sink in a folder that does not exist, before the relay starts', async () => {
    writeFileSync(join(dir, 'not-a-ca.pem'), 'hello');
    const ca = (await readRelayConfigFile(configWith({ siem: { sink: 'syslog-tls', host: 'h', caFile: 'not-a-ca.pem' } }))).siem!;
    expect(() => openSiemSink({ ...ca })).toThrow(/holds no PEM certificate/);
    const file = (await readRelayConfigFile(configWith({ siem: { sink: 'json-lines', file: 'missing/dir/audit.jsonl' } }))).siem!;
    expect(() => openSiemSink(file)).toThrow(/cannot append to siem\.file .*missing\/dir/);
  });
});
