import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LdapDirectoryConfigSchema, type LdapDirectoryConfig, type LdapDirectoryConfigInput } from '../../server/directory/ldapConfig';
import { readLdapDirectory } from '../../server/directory/ldapDirectory';
import { LdapDirectoryError } from '../../server/directory/LdapDirectoryError';
import { freePort } from '../fixtures/ports';
import { makeCertificates } from '../fixtures/rsyslogReceiver';
import { slapdUnavailable, startSlapd, type TestSlapd } from '../fixtures/slapd';
import { useTempDirs } from '../fixtures/tempDirs';

/*
 * Issue 18: the relay reads the hospital's people from LDAP / Active Directory. Against a real slapd (its own
 * config and data, loopback, a free port): the filter decides who is read, the attribute map shapes them, a
 * size limit does not cut a large directory short, and every failure is an LdapDirectoryError with a code.
 */
const unavailable = slapdUnavailable();
if (unavailable) console.log(`LDAP directory tests skipped: ${unavailable}`);

const SUFFIX = 'dc=hospital,dc=example';
const PEOPLE = `ou=people,${SUFFIX}`;
const GROUP = `cn=rounds-users,ou=groups,${SUFFIX}`;

const ldif = (...entries: (readonly string[])[]) => entries.map((lines) => `${lines.join('\n')}\n`).join('\n');
const ou = (dn: string) => [`dn: ${dn}`, 'objectClass: organizationalUnit', `ou: ${dn.split(',')[0]?.slice(3) ?? ''}`];

/** An OpenLDAP-style person: inetOrgPerson, `uid`, `mail`, entryUUID made by the server. */
function person(uid: string, parent: string, extra: readonly string[] = []): string[] {
  return [`dn: uid=${uid},${parent}`, 'objectClass: inetOrgPerson', `uid: ${uid}`, `cn: ${uid.toUpperCase()} Person`, 'sn: Person', ...extra];
}

async function readError(config: LdapDirectoryConfig): Promise<LdapDirectoryError> {
  const error: unknown = await readLdapDirectory(config).then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(LdapDirectoryError);
  return error as LdapDirectoryError;
}

describe.skipIf(unavailable !== null)('reading people from an OpenLDAP directory', () => {
  const tempDir = useTempDirs();
  let slapd: TestSlapd;
  let config: (overrides?: Partial<LdapDirectoryConfigInput>) => LdapDirectoryConfig;

  beforeAll(async () => {
    const bulk = Array.from({ length: 1500 }, (_, i) => person(`bulk${String(i).padStart(4, '0')}`, `ou=bulk,${SUFFIX}`));
    slapd = await startSlapd({
      sizeLimit: 500,
      memberOf: true,
      ldif: ldif(
        ou(PEOPLE), ou(`ou=clinical,${PEOPLE}`), ou(`ou=admin,${PEOPLE}`), ou(`ou=leavers,${SUFFIX}`), ou(`ou=groups,${SUFFIX}`), ou(`ou=bulk,${SUFFIX}`),
        ...bulk,
      ),
    });
    // Online, so the memberof overlay keeps memberOf on each person as the group changes (slapadd bypasses it).
    await slapd.modify(ldif(
      person('asmith', `ou=clinical,${PEOPLE}`, ['mail: A.Smith@Hospital.Example', 'displayName: Dr Alice Smith', 'departmentNumber: Cardiology', 'title: Cardiology registrar', 'pager: 4471']),
      person('bjones', `ou=clinical,${PEOPLE}`, ['title: Charge nurse', 'telephoneNumber: +44 20 7946 0123', 'pager: 5512']),
      person('cwhite', `ou=admin,${PEOPLE}`, ['mail: c.white@hospital.example', 'title: Ward clerk', 'employeeType: Left']),
      person('dgreen', `ou=admin,${PEOPLE}`, ['mail: d.green@hospital.example']),
      person('eblack', `ou=clinical,${PEOPLE}`, ['mail: e.black@hospital.example']),
      [`dn: cn=Front Desk,ou=admin,${PEOPLE}`, 'objectClass: inetOrgPerson', 'cn: Front Desk', 'sn: Desk'],
      [`dn: ${GROUP}`, 'objectClass: groupOfNames', 'cn: rounds-users',
        ...['uid=asmith,ou=clinical', 'uid=bjones,ou=clinical', 'uid=cwhite,ou=admin', 'uid=eblack,ou=clinical', 'cn=Front Desk,ou=admin'].map((m) => `member: ${m},${PEOPLE}`)],
    ));
    const passwordFile = slapd.readerPasswordFile;
    config = (overrides = {}) => LdapDirectoryConfigSchema.parse({
      url: slapd.url, allowUnencrypted: true, bindDn: slapd.readerDn, bindPasswordFile: passwordFile, baseDn: PEOPLE,
      filter: `(&(objectClass=inetOrgPerson)(memberOf=${GROUP}))`,
      attributes: { username: ['mail', 'uid'], department: 'departmentNumber' },
      disabledWhen: { attribute: 'employeeType', equals: ['left'] },
      pageSize: 200,
      ...overrides,
    });
  });
  afterAll(async () => {
    await slapd?.stop();
  });

  it('reads the group\'s members from both OUs, shaped by the attribute map', async () => {
    const { people } = await readLdapDirectory(config());
    expect(people.map((p) => p.username).sort()).toEqual(['a.smith@hospital.example', 'bjones', 'c.white@hospital.example', 'e.black@hospital.example']);
    const alice = people.find((p) => p.username === 'a.smith@hospital.example');
    expect(alice).toEqual({
      externalId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
      username: 'a.smith@hospital.example', displayName: 'Dr Alice Smith', department: 'Cardiology', jobTitle: 'Cardiology registrar', contact: '4471', active: true,
    });
    // No mail: uid instead; no displayName: cn; telephoneNumber before pager.
    expect(people.find((p) => p.username === 'bjones')).toMatchObject({ displayName: 'BJONES Person', department: null, contact: '+44 20 7946 0123' });
    expect(new Set(people.map((p) => p.externalId)).size).toBe(people.length);
  });

  it('reads the same stable id each time, whatever else changes', async () => {
    const before = (await readLdapDirectory(config())).people.find((p) => p.username === 'e.black@hospital.example');
    await slapd.modify(`dn: uid=eblack,ou=clinical,${PEOPLE}\nchangetype: modify\nreplace: mail\nmail: emma.black@hospital.example\n`);
    const after = (await readLdapDirectory(config())).people.find((p) => p.username === 'emma.black@hospital.example');
    expect(after?.externalId).toBe(before?.externalId);
  });

  it('reads someone the directory marks as left as inactive', async () => {
    const { people } = await readLdapDirectory(config());
    expect(people.find((p) => p.username === 'c.white@hospital.example')).toMatchObject({ active: false, jobTitle: 'Ward clerk' });
    expect(people.filter((p) => !p.active)).toHaveLength(1);
  });

  it('skips an entry without a username and names it', async () => {
    const { people, skipped } = await readLdapDirectory(config());
    expect(skipped).toEqual([{ dn: `cn=Front Desk,ou=admin,${PEOPLE}`, reason: expect.stringMatching(/no username.*mail, uid/) }]);
    expect(people.some((p) => p.displayName === 'Front Desk')).toBe(false);
  });

  it('reads all 1,500 people of an OU although the server answers at most 500 at a time', async () => {
    const bulk = config({ baseDn: `ou=bulk,${SUFFIX}`, filter: '(objectClass=inetOrgPerson)', attributes: { username: 'uid' } });
    for (const pageSize of [200, 500, 1000]) {
      const { people, skipped } = await readLdapDirectory({ ...bulk, pageSize });
      expect(skipped).toEqual([]);
      expect(new Set(people.map((p) => p.username)).size).toBe(1500);
      expect(people.map((p) => p.username)).toContain('bulk1499');
    }
  });

  it('no longer reads someone moved out of the base DN, or taken out of the group', async () => {
    const before = (await readLdapDirectory(config())).people.map((p) => p.username);
    expect(before).toEqual(expect.arrayContaining(['a.smith@hospital.example', 'bjones']));
    await slapd.move(`uid=asmith,ou=clinical,${PEOPLE}`, `ou=leavers,${SUFFIX}`);
    await slapd.modify(`dn: ${GROUP}\nchangetype: modify\ndelete: member\nmember: uid=bjones,ou=clinical,${PEOPLE}\n`);
    const after = (await readLdapDirectory(config())).people.map((p) => p.username);
    expect(after).not.toContain('a.smith@hospital.example');
    expect(after).not.toContain('bjones');
    expect(after).toHaveLength(before.length - 2);
  });

  it('says the bind was refused for a wrong password, without the password', async () => {
    const wrong = join(tempDir(), 'wrong-password');
    writeFileSync(wrong, 'Not-The-Password-42\n', { mode: 0o600 });
    const error = await readError(config({ bindPasswordFile: wrong }));
    expect(error.code).toBe('LDAP_BIND_REFUSED');
    expect(error.message).toContain(slapd.readerDn);
    expect(error.message).toMatch(/wrong password/);
    expect(JSON.stringify({ message: error.message, stack: error.stack })).not.toContain('Not-The-Password-42');
  });

  it('says so when nothing listens at the URL', async () => {
    const port = await freePort();
    const error = await readError(config({ url: `ldap://127.0.0.1:${port}` }));
    expect(error.code).toBe('LDAP_UNREACHABLE');
    expect(error.message).toContain(`ldap://127.0.0.1:${port}`);
  });

  it('refuses a malformed filter before connecting, in the config and in the reader', async () => {
    expect(() => config({ filter: '(&(objectClass=inetOrgPerson)(memberOf=' })).toThrow(/filter is not an LDAP filter/);
    const error = await readError({ ...config(), filter: '(&(objectClass=inetOrgPerson)(memberOf=', url: `ldap://127.0.0.1:${await freePort()}` });
    expect(error.code).toBe('LDAP_BAD_FILTER');
  });

  it('says the base DN does not exist', async () => {
    const error = await readError(config({ baseDn: `ou=nowhere,${SUFFIX}` }));
    expect(error.code).toBe('LDAP_BAD_BASE_DN');
    expect(error.message).toContain(`ou=nowhere,${SUFFIX}`);
  });

  it('gives up on a server that stops answering, after timeoutMs', async () => {
    await slapd.pause();
    try {
      const started = Date.now();
      const error = await readError(config({ timeoutMs: 1000 }));
      expect(error.code).toBe('LDAP_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      slapd.resume();
    }
  });

  it('says the bind password file is missing or empty', async () => {
    expect((await readError(config({ bindPasswordFile: join(tempDir(), 'absent') }))).code).toBe('LDAP_BIND_PASSWORD_FILE');
    const empty = join(tempDir(), 'empty');
    writeFileSync(empty, '\n');
    expect((await readError(config({ bindPasswordFile: empty }))).message).toMatch(/is empty/);
  });
});

/** The GUID {3F2504E0-4F89-11D3-9A0C-0305E82C3301} as AD stores it in objectGUID (first three fields little-endian). */
const GUID_BYTES = Buffer.from('e004253f894fd3119a0c0305e82c3301', 'hex');
const GUID_TEXT = '3f2504e0-4f89-11d3-9a0c-0305e82c3301';

/**
 * An AD user as the msuser schema has it (the attributes a DC returns), with a binary objectGUID. AD's user class
 * allows `department`, msuser's does not: extensibleObject stands in for that.
 */
function adUser(cn: string, parent: string, guid: Buffer, extra: readonly string[]): string[] {
  return [`dn: CN=${cn},${parent}`, 'objectClass: user', 'objectClass: extensibleObject', `cn: ${cn}`, 'sn: User', 'instanceType: 4', `objectCategory: CN=Person,CN=Schema,CN=Configuration,${SUFFIX}`,
    `nTSecurityDescriptor:: ${Buffer.from([1, 0, 4, 0x80]).toString('base64')}`, `objectGUID:: ${guid.toString('base64')}`, ...extra];
}

describe.skipIf(unavailable !== null)('reading people from an Active Directory-shaped directory, with the default map', () => {
  let slapd: TestSlapd;
  let config: LdapDirectoryConfig;
  const staff = `OU=Staff,${SUFFIX}`;
  beforeAll(async () => {
    slapd = await startSlapd({
      extraSchemas: ['msuser'],
      ldif: ldif(
        ou(staff),
        adUser('Alice Smith', staff, GUID_BYTES, ['userPrincipalName: Alice.Smith@Hospital.Example', 'displayName: Dr Alice Smith', 'department: Cardiology', 'title: Consultant', 'telephoneNumber: x4471', 'userAccountControl: 512']),
        adUser('Bob Old', staff, Buffer.alloc(16, 7), ['userPrincipalName: bob.old@hospital.example', 'userAccountControl: 514']),
        adUser('Carol New', staff, Buffer.alloc(16, 9), ['userPrincipalName: carol@hospital.example', 'pager: 2231', 'userAccountControl: 66048']),
        adUser('svc-backup', staff, Buffer.alloc(16, 1), ['userAccountControl: 66048']),
      ),
    });
    config = LdapDirectoryConfigSchema.parse({ url: slapd.url, allowUnencrypted: true, bindDn: slapd.readerDn, bindPasswordFile: slapd.readerPasswordFile, baseDn: staff, filter: '(objectClass=user)' });
  });
  afterAll(async () => {
    await slapd?.stop();
  });

  it('maps userPrincipalName, objectGUID, department, title and telephone; userAccountControl bit 2 is disabled', async () => {
    const { people, skipped } = await readLdapDirectory(config);
    expect(people).toEqual([
      { externalId: GUID_TEXT, username: 'alice.smith@hospital.example', displayName: 'Dr Alice Smith', department: 'Cardiology', jobTitle: 'Consultant', contact: 'x4471', active: true },
      { externalId: '07070707-0707-0707-0707-070707070707', username: 'bob.old@hospital.example', displayName: 'Bob Old', department: null, jobTitle: null, contact: null, active: false },
      { externalId: '09090909-0909-0909-0909-090909090909', username: 'carol@hospital.example', displayName: 'Carol New', department: null, jobTitle: null, contact: '2231', active: true },
    ]);
    // slapd spells attribute types in DNs its own way (cn=, ou=); AD keeps CN= and OU=.
    expect(skipped).toEqual([{ dn: expect.stringMatching(/^cn=svc-backup,ou=Staff,dc=hospital/i), reason: expect.stringMatching(/no username \(none of userPrincipalName\)/) }]);
  });
});

/*
 * Over TLS (ldaps:// or StartTLS), trusting the site's CA file: a certificate made here for 127.0.0.1; a CA
 * that did not issue it is refused.
 */
const TLS_LDIF = [
  `dn: ${PEOPLE}`, 'objectClass: organizationalUnit', 'ou: people', '',
  `dn: uid=asmith,${PEOPLE}`, 'objectClass: inetOrgPerson', 'uid: asmith', 'cn: Alice Smith', 'sn: Smith', '',
].join('\n');

describe.skipIf(unavailable !== null)('reading the directory over TLS', () => {
  const tempDir = useTempDirs();
  let slapd: TestSlapd;
  let plain: TestSlapd;
  let siteCa: string;
  let otherCa: string;
  let config: (overrides: Partial<LdapDirectoryConfigInput>) => LdapDirectoryConfig;
  beforeAll(async () => {
    const site = makeCertificates(tempDir(), 'ldap');
    siteCa = site.ca;
    otherCa = makeCertificates(tempDir(), 'other').ca;
    [slapd, plain] = await Promise.all([startSlapd({ ldif: TLS_LDIF, tls: { certFile: site.cert, keyFile: site.key } }), startSlapd({ ldif: TLS_LDIF })]);
    config = (overrides) => LdapDirectoryConfigSchema.parse({
      url: slapd.ldapsUrl, caFile: siteCa, bindDn: slapd.readerDn, bindPasswordFile: slapd.readerPasswordFile, baseDn: PEOPLE,
      filter: '(objectClass=inetOrgPerson)', attributes: { username: 'uid' }, ...overrides,
    });
  });
  afterAll(async () => {
    await Promise.all([slapd?.stop(), plain?.stop()]);
  });

  it('reads over ldaps:// and over StartTLS, trusting the CA file', async () => {
    expect((await readLdapDirectory(config({}))).people.map((p) => p.username)).toEqual(['asmith']);
    expect((await readLdapDirectory(config({ url: slapd.url, startTls: true }))).people.map((p) => p.username)).toEqual(['asmith']);
  });

  it('refuses a server whose certificate the CA file did not issue, before binding', async () => {
    for (const overrides of [{}, { url: slapd.url, startTls: true }]) {
      const error = await readError(config({ ...overrides, caFile: otherCa }));
      expect(error.code).toBe('LDAP_TLS_FAILED');
      expect(error.message).toMatch(/caFile/);
    }
  });

  it('says so when the server offers no StartTLS, or no TLS on an ldaps:// port', async () => {
    const refused = await readError(config({ url: plain.url, startTls: true }));
    expect(refused.code).toBe('LDAP_TLS_FAILED');
    expect(refused.message).toMatch(/refused StartTLS/);
    const noTls = await readError(config({ url: plain.url.replace('ldap:', 'ldaps:') }));
    expect(noTls.code).toBe('LDAP_TLS_FAILED');
  });
});
