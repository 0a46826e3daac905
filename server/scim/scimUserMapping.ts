/*
 * SCIM User <-> DirectoryPerson (RFC 7643 sections 4.1 and 4.3). A request's resource, canonicalised
 * (scimRepresentation.ts), becomes the person the store provisions; a stored person is rendered back with
 * its id and meta. Directory data only: names, titles, departments, pager numbers, never anything about
 * patients; Okta's `password` is dropped unread by canonicalisation and never stored or logged.
 */
import { foldUsername } from '../../shared/wire/username';
import type { UserId } from '../../shared/ids';
import type { DirectoryPerson } from '../directory/DirectoryPerson';
import { badScimRequest } from './ScimError';
import type { ScimUserRecord } from './ScimDirectory';
import { isScimObject, type ScimJson, type ScimObject } from './scimRepresentation';
import { CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA } from './scimSchema';

/** Longest string attribute kept; a directory name or title is far shorter. */
export const MAX_SCIM_STRING_LENGTH = 256;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** A string attribute's value, or null when absent; other JSON types are invalidValue. */
export function readString(value: ScimJson | undefined, attribute: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw badScimRequest('invalidValue', `${attribute} must be a string.`);
  if (value.length > MAX_SCIM_STRING_LENGTH) throw badScimRequest('invalidValue', `${attribute} is longer than ${MAX_SCIM_STRING_LENGTH} characters.`);
  if (CONTROL_CHARACTERS.test(value)) throw badScimRequest('invalidValue', `${attribute} contains control characters.`);
  return value === '' ? null : value;
}

/**
 * `active` as a boolean. Entra ID without its aadOptscim062020 flag sends the string "False" ("Known issues
 * and resolutions with SCIM 2.0 protocol compliance", Requests made to disable users); any case of
 * "true"/"false" is read as the boolean. Absent: the fallback.
 */
export function readActive(value: ScimJson | undefined, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  throw badScimRequest('invalidValue', 'active must be true or false.');
}

/** The lower-cased sign-in name: a short name or a UPN, without spaces. */
export function readUserName(value: ScimJson | undefined): string {
  const userName = readString(value, 'userName');
  if (userName === null) throw badScimRequest('invalidValue', 'userName is required.');
  if (/\s/.test(userName)) throw badScimRequest('invalidValue', 'userName must not contain spaces.');
  const folded = foldUsername(userName);
  if (folded === null) throw badScimRequest('invalidValue', 'userName must be plain ASCII (a short name or a UPN).');
  return folded;
}

function objectAt(resource: ScimObject, key: string): ScimObject {
  const value = resource[key];
  return isScimObject(value) ? value : {};
}

/**
 * The contact line: the pager number if there is one, else the work number, else a number sent without a
 * type. Mobile, home and fax numbers are not a way to reach someone on shift and are not kept.
 */
function readContact(phoneNumbers: ScimJson | undefined): string | null {
  if (phoneNumbers === undefined || phoneNumbers === null) return null;
  if (!Array.isArray(phoneNumbers)) throw badScimRequest('invalidValue', 'phoneNumbers must be a list.');
  const byType = new Map<string, string>();
  for (const entry of phoneNumbers) {
    if (!isScimObject(entry)) throw badScimRequest('invalidValue', 'Each of phoneNumbers must be an object.');
    const value = readString(entry['value'], 'phoneNumbers.value');
    const type = readString(entry['type'], 'phoneNumbers.type')?.toLowerCase() ?? '';
    if (value !== null && !byType.has(type)) byType.set(type, value);
  }
  return byType.get('pager') ?? byType.get('work') ?? byType.get('') ?? null;
}

/** What a user keeps when a request leaves these out: the current values on PUT and PATCH. */
export interface UserFallbacks {
  readonly active: boolean;
  /** null on create: the userName stands in. */
  readonly externalId: string | null;
}

export const NEW_USER_FALLBACKS: UserFallbacks = { active: true, externalId: null };

/**
 * The person a canonical SCIM User describes. displayName falls back to name.formatted, then to givenName
 * and familyName (Entra ID's documented create request has only `name`), then to userName. externalId
 * left out keeps the current one (Okta's documented PUT carries none), and on create is the userName
 * (Okta's documented create with custom attributes sends none); `active` left out keeps the current value
 * (true on create).
 */
export function personFromScimUser(resource: ScimObject, fallbacks: UserFallbacks): DirectoryPerson {
  const username = readUserName(resource['userName']);
  const name = objectAt(resource, 'name');
  const joinedName = [readString(name['givenName'], 'name.givenName'), readString(name['familyName'], 'name.familyName')]
    .filter((part) => part !== null)
    .join(' ');
  const displayName = readString(resource['displayName'], 'displayName') ?? readString(name['formatted'], 'name.formatted') ?? (joinedName === '' ? username : joinedName);
  return {
    externalId: readString(resource['externalId'], 'externalId') ?? fallbacks.externalId ?? username,
    username,
    displayName,
    department: readString(objectAt(resource, ENTERPRISE_USER_SCHEMA)['department'], `${ENTERPRISE_USER_SCHEMA}:department`),
    jobTitle: readString(resource['title'], 'title'),
    contact: readContact(resource['phoneNumbers']),
    active: readActive(resource['active'], fallbacks.active),
  };
}

/** The person as a canonical SCIM User without meta: what PATCH operations apply to. */
export function scimUserAttributes(id: UserId, person: DirectoryPerson): ScimObject {
  const user: ScimObject = {
    id,
    externalId: person.externalId,
    userName: person.username,
    name: { formatted: person.displayName },
    displayName: person.displayName,
    active: person.active,
  };
  if (person.jobTitle !== null) user['title'] = person.jobTitle;
  if (person.contact !== null) user['phoneNumbers'] = [{ value: person.contact, type: 'work', primary: true }];
  if (person.department !== null) user[ENTERPRISE_USER_SCHEMA] = { department: person.department };
  return user;
}

/** The full SCIM User a response carries (RFC 7643 section 3.1 meta; `location` under the SCIM base URL). */
export function renderScimUser(record: ScimUserRecord, baseUrl: string): ScimObject {
  const attributes = scimUserAttributes(record.id, record.person);
  return {
    schemas: record.person.department === null ? [CORE_USER_SCHEMA] : [CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
    ...attributes,
    meta: {
      resourceType: 'User',
      created: record.created.toISOString(),
      lastModified: record.lastModified.toISOString(),
      location: `${baseUrl}/Users/${record.id}`,
    },
  };
}
