import type { Entry } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { LdapAttributeMapSchema } from './ldapConfig';
import { guidFromBytes, peopleFromEntries } from './ldapPersonMapping';

const adMap = LdapAttributeMapSchema.parse({});
const disabledBit = { attribute: 'userAccountControl', anyBitSet: 2 };
const guid = (byte: number) => Buffer.alloc(16, byte);

describe('LDAP entries as directory people', () => {
  it('renders objectGUID in Microsoft byte order as the canonical GUID string', () => {
    expect(guidFromBytes(Buffer.from('e004253f894fd3119a0c0305e82c3301', 'hex'))).toBe('3f2504e0-4f89-11d3-9a0c-0305e82c3301');
    expect(guidFromBytes(Buffer.alloc(15))).toBeNull();
  });

  it('skips every entry of a username or stable id held twice, and names each', () => {
    const entries: Entry[] = [
      { dn: 'CN=A,OU=Staff', userPrincipalName: 'Same@Hospital.Example', objectGUID: guid(1) },
      { dn: 'CN=B,OU=Staff', userPrincipalName: 'same@hospital.example', objectGUID: guid(2) },
      { dn: 'CN=C,OU=Staff', userPrincipalName: 'c@hospital.example', objectGUID: guid(3) },
      { dn: 'CN=D,OU=Staff', userPrincipalName: 'd@hospital.example', objectGUID: guid(3) },
      { dn: 'CN=E,OU=Staff', userPrincipalName: 'e@hospital.example', objectGUID: guid(5) },
    ];
    const { people, skipped } = peopleFromEntries(entries, adMap, disabledBit);
    expect(people.map((p) => p.username)).toEqual(['e@hospital.example']);
    expect(skipped.map((s) => s.dn)).toEqual(['CN=A,OU=Staff', 'CN=B,OU=Staff', 'CN=C,OU=Staff', 'CN=D,OU=Staff']);
    expect(skipped[0]?.reason).toMatch(/username same@hospital.example is also on 1 other entry/);
  });

  it('reads userAccountControl bit 2 as disabled, and a value that is not a number as disabled too', () => {
    const uac = (value: string | undefined, n: number): Entry => ({ dn: `CN=${n}`, userPrincipalName: `u${n}@h.example`, objectGUID: guid(n), ...(value === undefined ? {} : { userAccountControl: value }) });
    const { people } = peopleFromEntries([uac('512', 1), uac('514', 2), uac('66050', 3), uac(undefined, 4), uac('garbled', 5), uac('-2147483646', 6)], adMap, disabledBit);
    expect(people.map((p) => p.active)).toEqual([true, false, false, true, false, false]);
  });
});
