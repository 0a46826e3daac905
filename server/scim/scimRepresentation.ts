/*
 * A SCIM resource as plain JSON with every attribute name in its schema's spelling: request bodies are
 * brought into this form (canonicaliseResource) before anything reads them, and PATCH operations apply to
 * it, so `UserName`, `USERNAME` and `urn:ietf:params:scim:schemas:core:2.0:User:userName` all mean one
 * thing and nothing downstream compares names case-insensitively again. Extension attributes sit under
 * their schema URN, as RFC 7643 section 3.3 writes them.
 */
import { badScimRequest } from './ScimError';
import { findExtension, findSubAttribute, resolveAttribute, type ScimAttribute, type ScimResourceShape } from './scimSchema';

export type ScimJson = string | number | boolean | null | ScimJson[] | { [key: string]: ScimJson };
export type ScimObject = { [key: string]: ScimJson };

export function isScimObject(value: unknown): value is ScimObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses a request body; anything but a JSON object is RFC 7644's invalidSyntax. */
export function parseScimBody(body: string | undefined): ScimObject {
  if (body === undefined || body.trim() === '') throw badScimRequest('invalidSyntax', 'The request has no body; a JSON object was expected.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw badScimRequest('invalidSyntax', 'The request body is not valid JSON.');
  }
  if (!isScimObject(parsed)) throw badScimRequest('invalidSyntax', 'The request body is not a JSON object.');
  return parsed as ScimObject;
}

/** A value of one attribute, its sub-attribute names in schema spelling; null stands for "no value". */
export function canonicaliseValue(attribute: ScimAttribute, value: ScimJson): ScimJson {
  if (value === null) return null;
  if (attribute.multiValued) {
    const items = Array.isArray(value) ? value : [value];
    return items.filter((item) => item !== null).map((item) => canonicaliseSingle(attribute, item));
  }
  return canonicaliseSingle(attribute, value);
}

function canonicaliseSingle(attribute: ScimAttribute, value: ScimJson): ScimJson {
  if (attribute.type !== 'complex' || !isScimObject(value)) return value;
  const result: ScimObject = {};
  for (const [key, subValue] of Object.entries(value)) {
    const sub = findSubAttribute(attribute, key);
    if (sub !== undefined && subValue !== null) result[sub.name] = subValue;
  }
  return result;
}

/**
 * The resource's attributes in schema spelling. Keys no schema of the shape defines are dropped (Entra ID's
 * documented create request carries a top-level `department: null`, Okta's a `password`); so are `schemas`
 * and `meta`, which the caller reads itself, and attributes sent as null.
 */
export function canonicaliseResource(shape: ScimResourceShape, body: ScimObject): ScimObject {
  const result: ScimObject = {};
  for (const [key, value] of Object.entries(body)) {
    if (value === null) continue;
    const extension = findExtension(shape, key);
    if (extension !== undefined) {
      if (!isScimObject(value)) throw badScimRequest('invalidSyntax', `${extension.id} must be a JSON object.`);
      const extensionValues: ScimObject = isScimObject(result[extension.id]) ? (result[extension.id] as ScimObject) : {};
      for (const [name, extensionValue] of Object.entries(value)) {
        const resolved = resolveAttribute({ core: extension, extensions: [] }, name);
        if (resolved !== undefined && extensionValue !== null) extensionValues[resolved.attribute.name] = canonicaliseValue(resolved.attribute, extensionValue);
      }
      result[extension.id] = extensionValues;
      continue;
    }
    const resolved = resolveAttribute(shape, key);
    if (resolved === undefined) continue;
    const canonical = canonicaliseValue(resolved.attribute, value);
    if (resolved.extension === null) {
      result[resolved.attribute.name] = canonical;
    } else {
      const extensionValues = isScimObject(result[resolved.extension.id]) ? (result[resolved.extension.id] as ScimObject) : {};
      extensionValues[resolved.attribute.name] = canonical;
      result[resolved.extension.id] = extensionValues;
    }
  }
  return result;
}

/** The `schemas` of a resource body must list the resource's core schema (RFC 7643 section 3). */
export function requireSchema(body: ScimObject, schema: string): void {
  const schemas = body['schemas'];
  if (!Array.isArray(schemas) || !schemas.some((entry) => typeof entry === 'string' && entry.toLowerCase() === schema.toLowerCase())) {
    throw badScimRequest('invalidSyntax', `"schemas" must list ${schema}.`);
  }
}
