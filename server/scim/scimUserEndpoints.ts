/*
 * /Users: list and filter, create, read, replace (PUT), PATCH, delete, as Entra ID and Okta use them. A
 * request is parsed and mapped completely before the directory is called, so a malformed request changes
 * nothing.
 */
import { UserIdSchema, type UserId } from '../../shared/ids';
import type { DirectoryPerson } from '../directory/DirectoryPerson';
import { badScimRequest, scimNotFound } from './ScimError';
import type { ScimDirectory, ScimUserRecord } from './ScimDirectory';
import { parseUserFilter } from './scimFilter';
import { readPatchOperations } from './scimPatchRequest';
import { canonicaliseResource, parseScimBody, requireSchema, type ScimObject } from './scimRepresentation';
import { listCollection, NO_CONTENT, scimJson, type ScimResponse } from './scimResponses';
import { CORE_USER_SCHEMA, USER_SHAPE } from './scimSchema';
import { applyUserPatch } from './scimUserPatch';
import { NEW_USER_FALLBACKS, personFromScimUser, renderScimUser, scimUserAttributes } from './scimUserMapping';

export interface ScimEndpointContext {
  readonly directory: ScimDirectory;
  readonly baseUrl: string;
  readonly query: URLSearchParams;
  readonly body: string | undefined;
}

function userNotFound(): never {
  throw scimNotFound('No such user.');
}

/** An id from the URL: anything but an account id cannot name a user, and the store is not asked. */
function readUserId(id: string): UserId {
  const parsed = UserIdSchema.safeParse(id);
  return parsed.success ? parsed.data : userNotFound();
}

async function currentUser({ directory }: ScimEndpointContext, id: UserId): Promise<ScimUserRecord> {
  return (await directory.getUser(id)) ?? userNotFound();
}

function userBody(context: ScimEndpointContext): ScimObject {
  const body = parseScimBody(context.body);
  requireSchema(body, CORE_USER_SCHEMA);
  return canonicaliseResource(USER_SHAPE, body);
}

function samePerson(a: DirectoryPerson, b: DirectoryPerson): boolean {
  return (Object.keys(a) as (keyof DirectoryPerson)[]).every((key) => a[key] === b[key]);
}

function userResponse(status: number, record: ScimUserRecord, baseUrl: string): ScimResponse {
  const user = renderScimUser(record, baseUrl);
  return scimJson(status, user, status === 201 ? { location: `${baseUrl}/Users/${record.id}` } : {});
}

export async function listUsers(context: ScimEndpointContext): Promise<ScimResponse> {
  const { directory, baseUrl } = context;
  return listCollection(context.query, parseUserFilter, (filter, page) => directory.findUsers(filter, page), (record) => renderScimUser(record, baseUrl));
}

export async function createUser(context: ScimEndpointContext): Promise<ScimResponse> {
  const person = personFromScimUser(userBody(context), NEW_USER_FALLBACKS);
  return userResponse(201, await context.directory.createUser(person), context.baseUrl);
}

export async function getUser(context: ScimEndpointContext, id: string): Promise<ScimResponse> {
  return userResponse(200, await currentUser(context, readUserId(id)), context.baseUrl);
}

async function storeUser(context: ScimEndpointContext, current: ScimUserRecord, person: DirectoryPerson): Promise<ScimResponse> {
  // A PUT or PATCH that changes nothing (both clients re-send unchanged values) writes and audits nothing.
  if (samePerson(current.person, person)) return userResponse(200, current, context.baseUrl);
  return userResponse(200, (await context.directory.replaceUser(current.id, person)) ?? userNotFound(), context.baseUrl);
}

/** PUT: the body replaces the user; `active` and `externalId` left out keep their values (personFromScimUser). */
export async function replaceUser(context: ScimEndpointContext, id: string): Promise<ScimResponse> {
  const userId = readUserId(id);
  const resource = userBody(context);
  if (resource['id'] !== undefined && resource['id'] !== userId) throw badScimRequest('mutability', 'id cannot be changed.');
  const current = await currentUser(context, userId);
  return storeUser(context, current, personFromScimUser(resource, current.person));
}

export async function patchUser(context: ScimEndpointContext, id: string): Promise<ScimResponse> {
  const userId = readUserId(id);
  const operations = readPatchOperations(USER_SHAPE, parseScimBody(context.body));
  const current = await currentUser(context, userId);
  const patched = applyUserPatch(scimUserAttributes(current.id, current.person), operations);
  return storeUser(context, current, personFromScimUser(patched, current.person));
}

export async function deleteUser(context: ScimEndpointContext, id: string): Promise<ScimResponse> {
  return (await context.directory.deleteUser(readUserId(id))) ? NO_CONTENT : userNotFound();
}
