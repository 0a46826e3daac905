import { foldUsername } from '../../shared/wire/username';
import type { Entry } from 'ldapts';
import type { DirectoryPerson } from './DirectoryPerson';
import type { LdapAttributeMap, LdapDisabledRule } from './ldapConfig';

/*
 * One LDAP entry -> one DirectoryPerson, by the configured attribute map. Pure: no connection, no clock.
 * An entry that cannot become a person (no username, no stable id) is skipped and named, never thrown: one
 * odd entry in a directory of thousands must not stop everyone else's sync.
 */

/** Binary GUID attributes (Microsoft's byte order), rendered as the canonical GUID string. Lower-case names. */
const GUID_ATTRIBUTES = new Set(['objectguid', 'ms-ds-consistencyguid']);
/** How the server may spell them back (ldapts returns binary only for the spellings it is given). */
const GUID_SPELLINGS = ['objectGUID', 'mS-DS-ConsistencyGuid', 'msDS-ConsistencyGuid'];

/** An entry that matched the filter but is not read as a person, and why (for the sync's report). */
export interface SkippedLdapEntry {
  readonly dn: string;
  readonly reason: string;
}

/** Every attribute a search must ask for to map entries with `map` and `disabledWhen`. */
export function requestedAttributes(map: LdapAttributeMap, disabledWhen: LdapDisabledRule | null): string[] {
  const names = [...Object.values(map).flat(), ...(disabledWhen ? [disabledWhen.attribute] : [])];
  return [...new Map(names.map((name) => [name.toLowerCase(), name])).values()];
}

/** The requested attributes ldapts must hand back as bytes rather than decode as UTF-8 text. */
export function binaryAttributes(map: LdapAttributeMap): string[] {
  const guids = map.externalId.filter((name) => GUID_ATTRIBUTES.has(name.toLowerCase()));
  return [...new Set([...guids, ...guids.map((name) => name.toLowerCase()), ...GUID_SPELLINGS.filter((s) => guids.some((g) => g.toLowerCase() === s.toLowerCase()))])];
}

/**
 * A 16-byte Microsoft GUID as its canonical string: the first three fields are stored little-endian
 * (objectGUID bytes 01 02 03 04 05 06 07 08 … read 04030201-0605-0807-…), lower-case as RFC 9562 writes it.
 */
export function guidFromBytes(bytes: Uint8Array): string | null {
  if (bytes.length !== 16) return null;
  const hex = (from: number, to: number, reverse: boolean) => {
    const part = Array.from(bytes.subarray(from, to), (b) => b.toString(16).padStart(2, '0'));
    return (reverse ? part.reverse() : part).join('');
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`;
}

type Values = readonly (string | Buffer)[];

/** The entry's attributes by lower-case name (servers spell names as they like). */
function attributesOf(entry: Entry): Map<string, Values> {
  const byName = new Map<string, Values>();
  for (const [name, value] of Object.entries(entry)) {
    if (name === 'dn') continue;
    const values = (Array.isArray(value) ? value : [value]) as Values;
    byName.set(name.toLowerCase(), [...(byName.get(name.toLowerCase()) ?? []), ...values]);
  }
  return byName;
}

/** The first non-empty value of the first of `names` the entry has, as text (GUIDs rendered); null if none. */
function firstText(attributes: Map<string, Values>, names: readonly string[]): string | null {
  for (const name of names) {
    for (const value of attributes.get(name.toLowerCase()) ?? []) {
      const text = GUID_ATTRIBUTES.has(name.toLowerCase()) && Buffer.isBuffer(value) ? guidFromBytes(value) : textOf(value);
      if (text) return text;
    }
  }
  return null;
}

function textOf(value: string | Buffer): string | null {
  const text = (Buffer.isBuffer(value) ? value.toString('utf8') : value).trim();
  return text === '' ? null : text;
}

/** true when the entry is still in the filter but the directory says the person is disabled or has left. */
function isDisabled(attributes: Map<string, Values>, rule: LdapDisabledRule | null): boolean {
  if (!rule) return false;
  const values = (attributes.get(rule.attribute.toLowerCase()) ?? []).map((v) => textOf(v)).filter((v): v is string => v !== null);
  if ('anyBitSet' in rule) {
    // A value that is not a number is read as disabled: an account is cut off rather than kept on a guess.
    return values.some((value) => !/^-?\d{1,20}$/.test(value) || (BigInt.asUintN(32, BigInt(value)) & BigInt(rule.anyBitSet)) !== 0n);
  }
  const disabledValues = new Set(rule.equals.map((v) => v.toLowerCase()));
  return values.some((value) => disabledValues.has(value.toLowerCase()));
}

/** The person an entry describes, or why it is skipped. */
export function personFromEntry(entry: Entry, map: LdapAttributeMap, disabledWhen: LdapDisabledRule | null): DirectoryPerson | SkippedLdapEntry {
  const attributes = attributesOf(entry);
  const given = firstText(attributes, map.username);
  const username = given === undefined || given === null ? null : foldUsername(given);
  if (given && username === null) return { dn: entry.dn, reason: 'the username is not plain ASCII' };
  if (!username) return { dn: entry.dn, reason: `no username (none of ${map.username.join(', ')})` };
  const externalId = firstText(attributes, map.externalId);
  if (!externalId) return { dn: entry.dn, reason: `no stable id (none of ${map.externalId.join(', ')}, or not a 16-byte GUID)` };
  return {
    externalId,
    username,
    displayName: firstText(attributes, map.displayName) ?? username,
    department: firstText(attributes, map.department),
    jobTitle: firstText(attributes, map.jobTitle),
    contact: firstText(attributes, map.contact),
    active: !isDisabled(attributes, disabledWhen),
  };
}

/**
 * Maps every entry; entries sharing a username or a stable id with another are all skipped, since which of
 * them is the person cannot be told (and giving the account to either could hand it to the wrong person).
 */
export function peopleFromEntries(entries: readonly Entry[], map: LdapAttributeMap, disabledWhen: LdapDisabledRule | null): { people: DirectoryPerson[]; skipped: SkippedLdapEntry[] } {
  const mapped = entries.map((entry) => ({ dn: entry.dn, result: personFromEntry(entry, map, disabledWhen) }));
  const count = (key: string) => (counts.get(key) ?? 0);
  const counts = new Map<string, number>();
  for (const { result } of mapped) {
    if ('username' in result) for (const key of [`u:${result.username}`, `x:${result.externalId}`]) counts.set(key, count(key) + 1);
  }
  const people: DirectoryPerson[] = [];
  const skipped: SkippedLdapEntry[] = [];
  for (const { dn, result } of mapped) {
    if (!('username' in result)) skipped.push(result);
    else if (count(`u:${result.username}`) > 1) skipped.push({ dn, reason: `username ${result.username} is also on ${count(`u:${result.username}`) - 1} other entr${count(`u:${result.username}`) > 2 ? 'ies' : 'y'}` });
    else if (count(`x:${result.externalId}`) > 1) skipped.push({ dn, reason: `stable id ${result.externalId} is also on another entry` });
    else people.push(result);
  }
  return { people, skipped };
}

/** The text values of `attribute` on the entry (a person's group DNs, from memberOf). */
export function textValues(entry: Entry, attribute: string): string[] {
  return (attributesOf(entry).get(attribute.toLowerCase()) ?? []).map((value) => textOf(value)).filter((text): text is string => typeof text === 'string' && text !== '');
}
