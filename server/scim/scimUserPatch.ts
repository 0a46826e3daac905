/*
 * Applies PATCH operations (already read by scimPatchRequest.ts) to a user's canonical SCIM form
 * (scimUserAttributes); the result is mapped back to a DirectoryPerson like a PUT body. Attributes Rounds
 * does not keep (emails, manager, password…) are accepted and left alone, so Entra ID's
 * `emails[type eq "work"].value` updates succeed without storing an address.
 *
 * Why not the scim-patch package: it applies RFC-shaped operations to a whole resource, but Entra ID's
 * shapes (op case, path-less dotted keys, "False", members removed by value) need normalising first
 * anyway (scimPatchRequest.ts), and what is left for a handful of attributes is shorter than the adapter.
 */
import type { Filter } from 'scim2-parse-filter';
import { badScimRequest } from './ScimError';
import { canonicaliseValue, isScimObject, type ScimJson, type ScimObject } from './scimRepresentation';
import { describePath, equalitiesOf, matchesValueFilter, type PatchPath } from './scimPatchPath';
import type { PatchOperation } from './scimPatchRequest';

function containerFor(resource: ScimObject, path: PatchPath): ScimObject {
  if (path.extension === null) return resource;
  const existing = resource[path.extension.id];
  const container = isScimObject(existing) ? existing : {};
  resource[path.extension.id] = container;
  return container;
}

function withSubValue(element: ScimJson, subName: string, value: ScimJson | undefined): ScimObject {
  const copy: ScimObject = isScimObject(element) ? { ...element } : {};
  if (value === undefined || value === null) Reflect.deleteProperty(copy, subName);
  else copy[subName] = value;
  return copy;
}

/** One value of a multi-valued complex attribute with the sub-attributes of `value` laid over it. */
function mergedElement(path: PatchPath, element: ScimObject, value: ScimJson | undefined): ScimObject {
  const single = canonicaliseValue({ ...path.attribute, multiValued: false }, value ?? null);
  if (!isScimObject(single)) throw badScimRequest('invalidValue', `"${describePath(path.text)}" takes an object of sub-attributes.`);
  return { ...element, ...single };
}

/** An operation on a multi-valued attribute through a `[filter]` path. */
function applyFiltered(container: ScimObject, { op, path, value }: PatchOperation, valueFilter: Filter): void {
  const { attribute, subAttribute } = path;
  const current = container[attribute.name];
  const elements = Array.isArray(current) ? current : [];
  const matches = (element: ScimJson): boolean => matchesValueFilter(valueFilter, element, attribute);
  const changed = (element: ScimObject): ScimObject => {
    if (op === 'remove') return subAttribute === null ? element : withSubValue(element, subAttribute.name, undefined);
    return subAttribute === null ? mergedElement(path, element, value) : withSubValue(element, subAttribute.name, value);
  };
  if (op === 'remove' && subAttribute === null) {
    container[attribute.name] = elements.filter((element) => !matches(element));
  } else if (op === 'remove' || elements.some(matches)) {
    container[attribute.name] = elements.map((element) => (isScimObject(element) && matches(element) ? changed(element) : element));
  } else {
    // Nothing matched: Entra ID adds a first work number with `Add`/`Replace` on `phoneNumbers[type eq "work"].value`.
    const seed = equalitiesOf(valueFilter, attribute);
    if (seed === null) throw badScimRequest('noTarget', `No value matches "${describePath(path.text)}".`);
    container[attribute.name] = [...elements, changed(seed)];
  }
}

function applyOne(resource: ScimObject, operation: PatchOperation): void {
  const { op, path, value } = operation;
  const { attribute, subAttribute } = path;
  if (attribute.mutability === 'readOnly') {
    // Okta repeats the id in path-less group replaces; the same value changes nothing.
    if (op !== 'remove' && value === resource[attribute.name]) return;
    throw badScimRequest('mutability', `${attribute.name} cannot be changed.`);
  }
  if (!attribute.kept || subAttribute?.kept === false) return;
  const container = containerFor(resource, path);
  if (path.valueFilter !== null) {
    applyFiltered(container, operation, path.valueFilter);
    return;
  }
  const current = container[attribute.name];
  if (subAttribute !== null) {
    if (attribute.multiValued) {
      const elements = Array.isArray(current) ? current : [];
      container[attribute.name] = elements.map((element) => withSubValue(element, subAttribute.name, op === 'remove' ? undefined : value));
    } else {
      container[attribute.name] = withSubValue(current ?? {}, subAttribute.name, op === 'remove' ? undefined : value);
    }
    return;
  }
  if (op === 'remove' || value === null || value === undefined) {
    Reflect.deleteProperty(container, attribute.name);
    return;
  }
  const canonical = canonicaliseValue(attribute, value);
  if (attribute.multiValued && op === 'add') {
    container[attribute.name] = [...(Array.isArray(current) ? current : []), ...(canonical as ScimJson[])];
  } else if (attribute.type === 'complex' && !attribute.multiValued && isScimObject(current) && isScimObject(canonical)) {
    // RFC 7644 section 3.5.2.3: sub-attributes not named in the value are left unchanged.
    container[attribute.name] = { ...current, ...canonical };
  } else {
    container[attribute.name] = canonical;
  }
}

function nameParts(resource: ScimObject): ScimObject {
  return isScimObject(resource['name']) ? resource['name'] : {};
}

/**
 * Rounds keeps one name (displayName, returned also as name.formatted). A PATCH that changes the name
 * without touching displayName changes it through a new name.formatted, or else through new givenName and
 * familyName when both are known after the PATCH.
 */
function followNameChanges(before: ScimObject, after: ScimObject, operations: readonly PatchOperation[]): void {
  if (operations.some(({ path }) => path.attribute.name === 'displayName')) return;
  const [old, name] = [nameParts(before), nameParts(after)];
  if (typeof name['formatted'] === 'string' && name['formatted'] !== old['formatted']) {
    after['displayName'] = name['formatted'];
    return;
  }
  const { givenName, familyName } = name;
  const partsChanged = givenName !== old['givenName'] || familyName !== old['familyName'];
  if (partsChanged && typeof givenName === 'string' && typeof familyName === 'string') after['displayName'] = `${givenName} ${familyName}`;
}

/** The user after the operations, in canonical SCIM form; the input is not changed. */
export function applyUserPatch(user: ScimObject, operations: readonly PatchOperation[]): ScimObject {
  const resource = structuredClone(user);
  for (const operation of operations) applyOne(resource, operation);
  followNameChanges(user, resource, operations);
  return resource;
}
