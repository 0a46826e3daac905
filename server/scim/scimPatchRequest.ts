/*
 * A PATCH request body (RFC 7644 section 3.5.2) read into operations with parsed paths, with the shapes
 * Entra ID and Okta actually send brought into the RFC's:
 * - `op` in any case: Entra ID sends "Add", "Replace", "Remove" (its SCIM guide: "Don't require a
 *   case-sensitive match on structural elements in SCIM, in particular PATCH op operation values").
 * - no `path`, `value` an object of attributes: Okta deactivates with {"op":"replace","value":{"active":false}}
 *   and renames groups with {"op":"replace","value":{"id":…,"displayName":…}}; Entra ID (aadOptscim062020)
 *   puts dotted and URN-qualified names in it: {"name.givenName":…, "urn:…:enterprise:2.0:User:employeeNumber":…}.
 *   Each key becomes an operation of its own with that key as its path.
 */
import { badScimRequest } from './ScimError';
import { findExtension, PATCH_OP_SCHEMA, type ScimResourceShape } from './scimSchema';
import { isScimObject, requireSchema, type ScimJson, type ScimObject } from './scimRepresentation';
import { parsePatchPath, type PatchPath } from './scimPatchPath';

export type PatchOperationKind = 'add' | 'replace' | 'remove';

export interface PatchOperation {
  readonly op: PatchOperationKind;
  readonly path: PatchPath;
  /** Absent for remove (Entra ID sends a value on removes of members, which then names those to remove). */
  readonly value: ScimJson | undefined;
}

/** More operations than any provisioning client sends at once; a larger request is refused whole. */
export const MAX_PATCH_OPERATIONS = 1000;

function readKind(op: ScimJson | undefined, index: number): PatchOperationKind {
  const kind = typeof op === 'string' ? op.toLowerCase() : '';
  if (kind === 'add' || kind === 'replace' || kind === 'remove') return kind;
  throw badScimRequest('invalidSyntax', `Operation ${index + 1}: "op" must be add, replace or remove.`);
}

function readOperationsList(body: ScimObject): ScimJson[] {
  const key = Object.keys(body).find((name) => name.toLowerCase() === 'operations');
  const operations = key === undefined ? undefined : body[key];
  if (!Array.isArray(operations) || operations.length === 0) throw badScimRequest('invalidSyntax', '"Operations" must be a non-empty list.');
  if (operations.length > MAX_PATCH_OPERATIONS) throw badScimRequest('invalidValue', `A PATCH may carry at most ${MAX_PATCH_OPERATIONS} operations.`);
  return operations;
}

/** A path-less add or replace: one operation per attribute of the value object (extension objects opened up). */
function expandPathless(shape: ScimResourceShape, op: PatchOperationKind, value: ScimJson | undefined, index: number): PatchOperation[] {
  if (!isScimObject(value)) throw badScimRequest('invalidValue', `Operation ${index + 1}: without a path, "value" must be an object of attributes.`);
  return Object.entries(value).flatMap(([key, attributeValue]) => {
    const extension = findExtension(shape, key);
    if (extension !== undefined && isScimObject(attributeValue)) {
      return Object.entries(attributeValue).map(([name, inner]) => ({ op, path: parsePatchPath(shape, `${extension.id}:${name}`), value: inner }));
    }
    return [{ op, path: parsePatchPath(shape, key), value: attributeValue }];
  });
}

export function readPatchOperations(shape: ScimResourceShape, body: ScimObject): PatchOperation[] {
  requireSchema(body, PATCH_OP_SCHEMA);
  return readOperationsList(body).flatMap((operation, index) => {
    if (!isScimObject(operation)) throw badScimRequest('invalidSyntax', `Operation ${index + 1} is not an object.`);
    const op = readKind(operation['op'], index);
    const path = operation['path'];
    const value = operation['value'];
    if (path === undefined || path === null || path === '') {
      if (op === 'remove') throw badScimRequest('noTarget', `Operation ${index + 1}: remove needs a path.`);
      return expandPathless(shape, op, value, index);
    }
    if (typeof path !== 'string') throw badScimRequest('invalidPath', `Operation ${index + 1}: "path" must be a string.`);
    if (op !== 'remove' && value === undefined) throw badScimRequest('invalidValue', `Operation ${index + 1}: ${op} needs a value.`);
    return [{ op, path: parsePatchPath(shape, path), value }];
  });
}
