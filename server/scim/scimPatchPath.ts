/*
 * The `path` of a PATCH operation (RFC 7644 section 3.5.2, "PATH" ABNF in figure 1):
 *   [schema URN ":"] attribute ["." sub-attribute]
 *   [schema URN ":"] attribute "[" value filter "]" ["." sub-attribute]
 * e.g. `name.familyName`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`,
 * `emails[type eq "work"].value` (Entra ID) or `members[value eq "…"]` (Okta, and Entra ID with its
 * aadOptscim062020 flag). A path naming no attribute of the schemas is invalidPath, as RFC 7644 asks.
 */
import { parse, type Filter } from 'scim2-parse-filter';
import { badScimRequest } from './ScimError';
import { isScimObject, type ScimJson } from './scimRepresentation';
import { findSubAttribute, resolveAttribute, type ScimAttribute, type ScimResourceSchema, type ScimResourceShape } from './scimSchema';

export interface PatchPath {
  /** The path as sent, for error details. */
  readonly text: string;
  /** The extension schema the attribute belongs to; null: the core schema. */
  readonly extension: ScimResourceSchema | null;
  readonly attribute: ScimAttribute;
  /** The `[...]` filter selecting values of a multi-valued attribute. */
  readonly valueFilter: Filter | null;
  readonly subAttribute: ScimAttribute | null;
}

const NAME = /^[A-Za-z$][\w$-]*$/;

/** The path for an error detail, a value filter's contents left out: they can carry a person's data. */
export function describePath(text: string): string {
  const bracket = text.indexOf('[');
  return (bracket < 0 ? text : `${text.slice(0, bracket)}[…]`).slice(0, 200);
}

function invalidPath(text: string, why: string): never {
  throw badScimRequest('invalidPath', `The path "${describePath(text)}" ${why}.`);
}

function parseValueFilter(text: string, filterText: string): Filter {
  try {
    return parse(filterText);
  } catch {
    return invalidPath(text, 'has a value filter that is not valid SCIM filter syntax');
  }
}

export function parsePatchPath(shape: ScimResourceShape, text: string): PatchPath {
  const bracket = text.indexOf('[');
  const head = bracket < 0 ? text : text.slice(0, bracket);
  const colon = head.lastIndexOf(':');
  const [attributeName = '', subName, ...more] = head.slice(colon + 1).split('.');
  let valueFilter: Filter | null = null;
  let filteredSubName: string | undefined;
  if (bracket >= 0) {
    const closing = text.lastIndexOf(']');
    const after = text.slice(closing + 1);
    if (closing < bracket || subName !== undefined || (after !== '' && !/^\.[A-Za-z$][\w$-]*$/.test(after))) invalidPath(text, 'is malformed');
    valueFilter = parseValueFilter(text, text.slice(bracket + 1, closing));
    filteredSubName = after === '' ? undefined : after.slice(1);
  }
  if (!NAME.test(attributeName) || more.length > 0 || (subName !== undefined && !NAME.test(subName))) invalidPath(text, 'is malformed');
  const resolved = resolveAttribute(shape, head.slice(0, colon + 1) + attributeName);
  if (resolved === undefined) invalidPath(text, `names no attribute of ${shape.core.name}`);
  const { extension, attribute } = resolved;
  if (valueFilter !== null && !attribute.multiValued) invalidPath(text, 'filters an attribute that has one value');
  const wantedSub = subName ?? filteredSubName;
  let subAttribute: ScimAttribute | null = null;
  if (wantedSub !== undefined) {
    subAttribute = findSubAttribute(attribute, wantedSub) ?? invalidPath(text, `names no sub-attribute of ${attribute.name}`);
  }
  return { text, extension, attribute, valueFilter, subAttribute };
}

function compare(actual: ScimJson | undefined, expected: unknown, caseExact: boolean): boolean {
  if (typeof actual === 'string' && typeof expected === 'string' && !caseExact) return actual.toLowerCase() === expected.toLowerCase();
  return actual === expected;
}

/**
 * Whether one value of a multi-valued attribute matches a value filter. Supports what identity providers
 * put in PATCH paths: eq, ne, pr, and, or, not; strings compare without regard to case unless the
 * sub-attribute is caseExact (RFC 7643 section 2.2).
 */
export function matchesValueFilter(filter: Filter, element: ScimJson, attribute: ScimAttribute): boolean {
  if (!isScimObject(element)) return false;
  switch (filter.op) {
    case 'and':
      return filter.filters.every((inner) => matchesValueFilter(inner, element, attribute));
    case 'or':
      return filter.filters.some((inner) => matchesValueFilter(inner, element, attribute));
    case 'not':
      return !matchesValueFilter(filter.filter, element, attribute);
    case 'eq':
    case 'ne':
    case 'pr': {
      const sub = findSubAttribute(attribute, filter.attrPath);
      if (sub === undefined) throw badScimRequest('invalidFilter', `${attribute.name} has no sub-attribute ${filter.attrPath}.`);
      const actual = element[sub.name];
      if (filter.op === 'pr') return actual !== undefined && actual !== null;
      const equal = compare(actual, filter.compValue, sub.caseExact === true);
      return filter.op === 'eq' ? equal : !equal;
    }
    default:
      throw badScimRequest('invalidFilter', `A PATCH path filter may use eq, ne, pr, and, or and not; not "${filter.op}".`);
  }
}

/**
 * The `sub eq "value"` conditions of a filter joined by `and`: the values a new element gets when an
 * add or replace through a filtered path finds no element to change (Entra ID sets a work e-mail or phone
 * number that way the first time). Anything else: null.
 */
export function equalitiesOf(filter: Filter, attribute: ScimAttribute): Record<string, ScimJson> | null {
  if (filter.op === 'and') {
    const parts = filter.filters.map((inner) => equalitiesOf(inner, attribute));
    return parts.some((part) => part === null) ? null : Object.assign({}, ...parts);
  }
  if (filter.op !== 'eq') return null;
  const sub = findSubAttribute(attribute, filter.attrPath);
  return sub === undefined ? null : { [sub.name]: filter.compValue };
}
