/*
 * The `filter` query parameter of GET /Users and /Groups (RFC 7644 section 3.4.2.2), narrowed to what
 * identity providers send when they match a person or group before creating it: `attribute eq "value"`,
 * joined by `and`. Entra ID documents "eq" and "and" as the only operators it uses; Okta documents
 * `userName eq "..."`. Parsing is scim2-parse-filter's (quoting, escapes, precedence, value paths); this
 * module only decides which of the parsed filters Rounds can answer, and says invalidFilter for the rest.
 */
import { parse, type Filter } from 'scim2-parse-filter';
import { UserIdSchema } from '../../shared/ids';
import { badScimRequest } from './ScimError';
import type { DirectoryFilter, GroupFilterAttribute, UserFilterAttribute } from './ScimDirectory';
import { GROUP_SHAPE, USER_SHAPE, findSubAttribute, resolveAttribute, type ScimResourceShape } from './scimSchema';

/** Far longer than any matching filter; a longer one is refused before it is parsed. */
export const MAX_FILTER_LENGTH = 2048;

/**
 * Entra ID's own guide shows `filter=externalId eq jyoung`, the value unquoted ("Handling provisioning and
 * deprovisioning of users", Example 1, learn.microsoft.com/entra/identity/app-provisioning/
 * use-scim-to-provision-users-and-groups). RFC 7644 wants a JSON string there; a lone comparison with a
 * bare word is read as if it were quoted.
 */
const BARE_WORD_COMPARISON = /^\s*([A-Za-z][\w:.$-]*)\s+eq\s+([^\s"()[\]]+)\s*$/i;

interface Comparison {
  readonly path: string;
  readonly value: string;
}

function parseFilterText(text: string): Filter {
  if (text.length > MAX_FILTER_LENGTH) throw badScimRequest('invalidFilter', `The filter is longer than ${MAX_FILTER_LENGTH} characters.`);
  try {
    return parse(text);
  } catch {
    const [, attrPath, value] = BARE_WORD_COMPARISON.exec(text) ?? [];
    if (attrPath !== undefined && value !== undefined && !['and', 'or', 'not'].includes(value.toLowerCase())) {
      return { op: 'eq', attrPath, compValue: value };
    }
    // The parser's message quotes the rest of the filter, values included: not passed on.
    throw badScimRequest('invalidFilter', 'The filter is not valid SCIM filter syntax.');
  }
}

const UNSUPPORTED = 'Rounds answers filters of the form attribute eq "value", joined by and';

/** The comparisons of an `and` of `eq`s, each with the path it compares (`members.value` for a value path). */
function comparisons(filter: Filter): Comparison[] {
  switch (filter.op) {
    case 'and':
      return filter.filters.flatMap(comparisons);
    case 'eq': {
      const value = filter.compValue;
      if (typeof value !== 'string' && typeof value !== 'number') {
        throw badScimRequest('invalidFilter', `${UNSUPPORTED}: ${filter.attrPath} is compared with ${String(value)}.`);
      }
      return [{ path: filter.attrPath, value: String(value) }];
    }
    case '[]':
      return comparisons(filter.valFilter).map(({ path, value }) => ({ path: `${filter.attrPath}.${path}`, value }));
    default:
      throw badScimRequest('invalidFilter', `${UNSUPPORTED}; "${filter.op}" is not supported.`);
  }
}

/** `urn:…:User:name.givenName` -> `name.givenName` in schema spelling, or undefined when no schema has it. */
function canonicalPath(shape: ScimResourceShape, path: string): string | undefined {
  const colon = path.lastIndexOf(':');
  const [head = '', subName, ...more] = path.slice(colon + 1).split('.');
  const resolved = resolveAttribute(shape, `${path.slice(0, colon + 1)}${head}`);
  if (resolved === undefined || more.length > 0) return undefined;
  if (subName === undefined) return resolved.attribute.name;
  const sub = findSubAttribute(resolved.attribute, subName);
  return sub === undefined ? undefined : `${resolved.attribute.name}.${sub.name}`;
}

function parseEqualities<Attribute extends string>(
  text: string,
  shape: ScimResourceShape,
  filterable: Readonly<Record<string, Attribute>>,
): DirectoryFilter<Attribute> {
  return comparisons(parseFilterText(text)).map(({ path, value }) => {
    const canonical = canonicalPath(shape, path);
    const attribute = canonical === undefined ? undefined : filterable[canonical];
    if (attribute === undefined) {
      throw badScimRequest('invalidFilter', `${UNSUPPORTED}; ${shape.core.name}s cannot be filtered by ${path}.`);
    }
    return { attribute, value };
  });
}

const USER_FILTERABLE: Readonly<Record<string, UserFilterAttribute>> = { id: 'id', userName: 'userName', externalId: 'externalId', displayName: 'displayName' };
const GROUP_FILTERABLE: Readonly<Record<string, GroupFilterAttribute>> = { id: 'id', externalId: 'externalId', displayName: 'displayName', 'members.value': 'members' };

/**
 * A user filter for ScimDirectory.findUsers, or null when it can match no account (an `id` or member id that
 * is not an account id at all), so the store is not asked. userName values are lower-cased: usernames are.
 */
export function parseUserFilter(text: string): DirectoryFilter<UserFilterAttribute> | null {
  const filter = parseEqualities(text, USER_SHAPE, USER_FILTERABLE);
  if (filter.some(({ attribute, value }) => attribute === 'id' && !UserIdSchema.safeParse(value).success)) return null;
  return filter.map((condition) => (condition.attribute === 'userName' ? { ...condition, value: condition.value.toLowerCase() } : condition));
}

/** A group filter for ScimDirectory.findGroups, or null when it can match no group (a member id that is no account id). */
export function parseGroupFilter(text: string): DirectoryFilter<GroupFilterAttribute> | null {
  const filter = parseEqualities(text, GROUP_SHAPE, GROUP_FILTERABLE);
  if (filter.some(({ attribute, value }) => attribute === 'members' && !UserIdSchema.safeParse(value).success)) return null;
  return filter;
}
