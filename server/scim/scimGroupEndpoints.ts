/*
 * /Groups: care teams and departments. Entra ID reads groups with `excludedAttributes=members` and expects
 * 204 No Content from a PATCH ("Update to the group PATCH request should yield an HTTP 204 No Content");
 * Okta accepts 204 as well ("The SCIM server response to PATCH method requests can also be a HTTP 204").
 */
import { badScimRequest, scimNotFound } from './ScimError';
import type { ScimGroupRecord } from './ScimDirectory';
import { parseGroupFilter } from './scimFilter';
import { groupChangeFromPatch } from './scimGroupPatch';
import { groupFromScim, renderScimGroup } from './scimGroupMapping';
import { readPatchOperations } from './scimPatchRequest';
import { canonicaliseResource, parseScimBody, requireSchema } from './scimRepresentation';
import { listCollection, NO_CONTENT, scimJson, type ScimResponse } from './scimResponses';
import { CORE_GROUP_SCHEMA, GROUP_SHAPE } from './scimSchema';
import type { ScimEndpointContext } from './scimUserEndpoints';

/** Longer than any id the store hands out; a longer one names no group and the store is not asked. */
const MAX_GROUP_ID_LENGTH = 256;

function groupNotFound(): never {
  throw scimNotFound('No such group.');
}

function readGroupId(id: string): string {
  return id.length > MAX_GROUP_ID_LENGTH ? groupNotFound() : id;
}

function includeMembers(query: URLSearchParams): boolean {
  const excluded = query.get('excludedAttributes') ?? '';
  return !excluded.split(',').some((name) => /^(urn:ietf:params:scim:schemas:core:2\.0:group:)?members$/i.test(name.trim()));
}

function groupResponse(status: number, record: ScimGroupRecord, context: ScimEndpointContext): ScimResponse {
  const group = renderScimGroup(record, context.baseUrl, includeMembers(context.query));
  return scimJson(status, group, status === 201 ? { location: `${context.baseUrl}/Groups/${record.id}` } : {});
}

function groupBody(context: ScimEndpointContext) {
  const body = parseScimBody(context.body);
  requireSchema(body, CORE_GROUP_SCHEMA);
  return canonicaliseResource(GROUP_SHAPE, body);
}

export async function listGroups(context: ScimEndpointContext): Promise<ScimResponse> {
  const { directory, baseUrl } = context;
  const members = includeMembers(context.query);
  return listCollection(context.query, parseGroupFilter, (filter, page) => directory.findGroups(filter, page), (record) => renderScimGroup(record, baseUrl, members));
}

export async function createGroup(context: ScimEndpointContext): Promise<ScimResponse> {
  const group = groupFromScim(groupBody(context));
  return groupResponse(201, await context.directory.createGroup(group), context);
}

export async function getGroup(context: ScimEndpointContext, id: string): Promise<ScimResponse> {
  return groupResponse(200, (await context.directory.getGroup(readGroupId(id))) ?? groupNotFound(), context);
}

export async function replaceGroup(context: ScimEndpointContext, id: string): Promise<ScimResponse> {
  const groupId = readGroupId(id);
  const resource = groupBody(context);
  if (resource['id'] !== undefined && resource['id'] !== groupId) throw badScimRequest('mutability', 'id cannot be changed.');
  const record = await context.directory.replaceGroup(groupId, groupFromScim(resource));
  return groupResponse(200, record ?? groupNotFound(), context);
}

export async function patchGroup(context: ScimEndpointContext, id: string): Promise<ScimResponse> {
  const groupId = readGroupId(id);
  const change = groupChangeFromPatch(groupId, readPatchOperations(GROUP_SHAPE, parseScimBody(context.body)));
  return (await context.directory.updateGroup(groupId, change)) === null ? groupNotFound() : NO_CONTENT;
}

export async function deleteGroup(context: ScimEndpointContext, id: string): Promise<ScimResponse> {
  return (await context.directory.deleteGroup(readGroupId(id))) ? NO_CONTENT : groupNotFound();
}
