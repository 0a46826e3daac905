import { describe, expect, it } from 'vitest';
import { LdapDirectoryConfigSchema } from './ldapConfig';

const minimal = {
  url: 'ldaps://dc1.hospital.example', bindDn: 'CN=svc-rounds,OU=Service,DC=hospital,DC=example', bindPasswordFile: 'ldap-bind-password',
  baseDn: 'OU=Staff,DC=hospital,DC=example', filter: '(&(objectCategory=person)(objectClass=user)(memberOf=CN=Rounds,OU=Groups,DC=hospital,DC=example))',
};
const problem = (input: object) => {
  const parsed = LdapDirectoryConfigSchema.safeParse(input);
  return parsed.success ? null : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
};

describe('the LDAP directory section of the relay config', () => {
  it('fills in defaults that suit Active Directory', () => {
    expect(LdapDirectoryConfigSchema.parse(minimal)).toEqual({
      ...minimal, startTls: false, allowUnencrypted: false, scope: 'sub', pageSize: 500, timeoutMs: 30_000,
      attributes: {
        externalId: ['objectGUID', 'entryUUID'], username: ['userPrincipalName'], displayName: ['displayName', 'cn'],
        department: ['department'], jobTitle: ['title'], contact: ['telephoneNumber', 'pager'],
      },
      disabledWhen: { attribute: 'userAccountControl', anyBitSet: 2 },
      roleGroups: {}, groupAttribute: 'memberOf',
    });
  });

  it('maps group DNs to role names, refusing an empty role name or a control character', () => {
    const roleGroups = { 'CN=Cardio on call,OU=Groups,DC=hospital,DC=example': 'Cardiology on call' };
    expect(LdapDirectoryConfigSchema.parse({ ...minimal, roleGroups }).roleGroups).toEqual(roleGroups);
    expect(problem({ ...minimal, roleGroups: { 'CN=x': '' } })).toMatch(/roleGroups/);
    expect(problem({ ...minimal, roleGroups: { 'CN=x\u0007': 'Role' } })).toMatch(/roleGroups/);
  });

  it('takes one attribute name or a list, and an OpenLDAP-style disabled rule', () => {
    const parsed = LdapDirectoryConfigSchema.parse({ ...minimal, attributes: { username: 'uid', contact: ['pager'] }, disabledWhen: { attribute: 'employeeType', equals: ['left'] } });
    expect(parsed.attributes.username).toEqual(['uid']);
    expect(parsed.attributes.contact).toEqual(['pager']);
    expect(parsed.attributes.displayName).toEqual(['displayName', 'cn']);
    expect(LdapDirectoryConfigSchema.parse({ ...minimal, disabledWhen: null }).disabledWhen).toBeNull();
  });

  it('never takes the bind password inline', () => {
    expect(problem({ ...minimal, bindPassword: 'hunter2' })).toMatch(/bindPassword/);
    expect(problem({ ...minimal, bindPasswordFile: undefined })).toMatch(/bindPasswordFile/);
  });

  it('refuses a plaintext bind unless asked for by name', () => {
    expect(problem({ ...minimal, url: 'ldap://dc1.hospital.example' })).toMatch(/in the clear/);
    expect(problem({ ...minimal, url: 'ldap://dc1.hospital.example', startTls: true })).toBeNull();
    expect(problem({ ...minimal, url: 'ldap://127.0.0.1:3389', allowUnencrypted: true })).toBeNull();
  });

  it('says what is wrong with a URL, TLS settings, a filter or an attribute name', () => {
    expect(problem({ ...minimal, url: 'https://dc1.hospital.example' })).toMatch(/ldap:\/\/ or ldaps:\/\//);
    expect(problem({ ...minimal, url: 'ldaps://dc1.hospital.example/OU=Staff' })).toMatch(/only scheme, host and port/);
    expect(problem({ ...minimal, startTls: true })).toMatch(/startTls: .*ldaps:\/\/ is TLS from the start/);
    expect(problem({ ...minimal, url: 'ldap://h', allowUnencrypted: true, caFile: 'ca.pem' })).toMatch(/caFile: caFile is for TLS/);
    expect(problem({ ...minimal, filter: '(uid=a' })).toMatch(/filter: filter is not an LDAP filter/);
    expect(problem({ ...minimal, attributes: { username: 'user principal' } })).toMatch(/attributes.username/);
  });
});
