/*
 * The SCIM 2.0 service (RFC 7644) as one function of a request, independent of the HTTP framework and of
 * the store: the relay mounts it at /scim/v2 after checking the bearer token, hands it the raw body (so
 * malformed JSON is a SCIM error, not the framework's), and sends back what it returns. Directory data
 * passes through here; error details and the onUnexpectedError hook carry no attribute values.
 */
import { ScimError } from './ScimError';
import type { ScimDirectory } from './ScimDirectory';
import { resourceTypeDocuments, schemaDocuments, serviceProviderConfig } from './scimDiscovery';
import { createGroup, deleteGroup, getGroup, listGroups, patchGroup, replaceGroup } from './scimGroupEndpoints';
import { listResponse, scimErrorResponse, scimJson, type ScimResponse } from './scimResponses';
import { createUser, deleteUser, getUser, listUsers, patchUser, replaceUser, type ScimEndpointContext } from './scimUserEndpoints';

export type { ScimResponse } from './scimResponses';

export interface ScimRequest {
  /** GET, POST, PUT, PATCH or DELETE (any case). */
  readonly method: string;
  /** The request target as received: path and query, e.g. `/scim/v2/Users?filter=userName%20eq%20%22a%22`. */
  readonly url: string;
  /** The raw body text (undefined or empty when there is none). */
  readonly body: string | undefined;
}

export interface ScimHandlerOptions {
  /**
   * The SCIM root as clients reach it, e.g. `https://relay.hospital.example/scim/v2`: meta.location and the
   * Location header are built on it.
   */
  readonly baseUrl: string;
  /** The path the service is mounted at (default `/scim/v2`). */
  readonly mountPath?: string;
  /** Receives whatever the directory threw that is not a ScimError; the client gets a 500 that names nothing. */
  readonly onUnexpectedError?: (error: unknown) => void;
}

export const DEFAULT_SCIM_MOUNT_PATH = '/scim/v2';

type DiscoveryDocument = 'ServiceProviderConfig' | 'Schemas' | 'ResourceTypes';

type Route =
  | { readonly kind: 'discovery'; readonly document: DiscoveryDocument; readonly id: string | undefined }
  | { readonly kind: 'Users' | 'Groups'; readonly id: string | undefined };

const COLLECTIONS: Readonly<Record<string, 'Users' | 'Groups' | DiscoveryDocument>> = {
  users: 'Users',
  groups: 'Groups',
  serviceproviderconfig: 'ServiceProviderConfig',
  // SCIM 1.1's name, which some clients still probe.
  serviceproviderconfigs: 'ServiceProviderConfig',
  schemas: 'Schemas',
  resourcetypes: 'ResourceTypes',
};

function notFound(detail: string): ScimError {
  return new ScimError(404, null, detail);
}

/** The route a path names, under the mount path; collection names in any case, a trailing slash allowed. */
export function routeScimPath(pathname: string, mountPath: string = DEFAULT_SCIM_MOUNT_PATH): Route {
  const mount = mountPath.replace(/\/+$/, '');
  if (pathname !== mount && !pathname.startsWith(`${mount}/`)) throw notFound('Not a SCIM endpoint.');
  let segments: string[];
  try {
    segments = pathname.slice(mount.length).split('/').filter((segment) => segment !== '').map(decodeURIComponent);
  } catch {
    throw notFound('Not a SCIM endpoint.');
  }
  const [collection, id, ...rest] = segments;
  const kind = collection === undefined ? undefined : COLLECTIONS[collection.toLowerCase()];
  if (kind === undefined || rest.length > 0 || (kind === 'ServiceProviderConfig' && id !== undefined)) throw notFound('Not a SCIM endpoint.');
  if (kind === 'Users' || kind === 'Groups') return { kind, id };
  return { kind: 'discovery', document: kind, id };
}

function methodNotAllowed(allowed: string): ScimError {
  return new ScimError(405, null, `Use ${allowed.split(', ').join(' or ')} here.`);
}

function discoveryResponse(route: Extract<Route, { kind: 'discovery' }>, baseUrl: string): ScimResponse {
  if (route.document === 'ServiceProviderConfig') return scimJson(200, serviceProviderConfig(baseUrl));
  const documents = route.document === 'Schemas' ? schemaDocuments(baseUrl) : resourceTypeDocuments(baseUrl);
  const id = route.id?.toLowerCase();
  if (id === undefined) return listResponse({ startIndex: 1, count: documents.length }, documents.length, documents);
  const document = documents.find((candidate) => String(candidate['id']).toLowerCase() === id);
  if (document === undefined) throw notFound(`No such ${route.document === 'Schemas' ? 'schema' : 'resource type'}.`);
  return scimJson(200, document);
}

const ALLOWED = { collection: 'GET, POST', resource: 'GET, PUT, PATCH, DELETE', discovery: 'GET' } as const;

async function dispatch(route: Route, method: string, context: ScimEndpointContext): Promise<ScimResponse> {
  if (route.kind === 'discovery') {
    if (method !== 'GET') throw methodNotAllowed(ALLOWED.discovery);
    return discoveryResponse(route, context.baseUrl);
  }
  const users = route.kind === 'Users';
  if (route.id === undefined) {
    if (method === 'GET') return users ? listUsers(context) : listGroups(context);
    if (method === 'POST') return users ? createUser(context) : createGroup(context);
    throw methodNotAllowed(ALLOWED.collection);
  }
  switch (method) {
    case 'GET':
      return users ? getUser(context, route.id) : getGroup(context, route.id);
    case 'PUT':
      return users ? replaceUser(context, route.id) : replaceGroup(context, route.id);
    case 'PATCH':
      return users ? patchUser(context, route.id) : patchGroup(context, route.id);
    case 'DELETE':
      return users ? deleteUser(context, route.id) : deleteGroup(context, route.id);
    default:
      throw methodNotAllowed(ALLOWED.resource);
  }
}

function allowHeader(route: Route | undefined): Record<string, string> {
  if (route === undefined) return {};
  if (route.kind === 'discovery') return { allow: ALLOWED.discovery };
  return { allow: route.id === undefined ? ALLOWED.collection : ALLOWED.resource };
}

/** One SCIM request, answered. Never throws: every failure is a SCIM error response. */
export async function handleScimRequest(request: ScimRequest, directory: ScimDirectory, options: ScimHandlerOptions): Promise<ScimResponse> {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  let route: Route | undefined;
  try {
    const url = new URL(request.url, 'http://scim.invalid');
    route = routeScimPath(url.pathname, options.mountPath);
    return await dispatch(route, request.method.toUpperCase(), { directory, baseUrl, query: url.searchParams, body: request.body });
  } catch (error) {
    if (error instanceof ScimError) return scimErrorResponse(error, error.status === 405 ? allowHeader(route) : {});
    options.onUnexpectedError?.(error);
    return scimErrorResponse(new ScimError(500, null, 'The relay could not complete the request.'));
  }
}
