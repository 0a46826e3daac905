/*
 * The response side shared by the SCIM endpoints: JSON bodies typed `application/scim+json` (Entra ID:
 * "The header for all the responses should be of content-Type: application/scim+json"), SCIM errors, and
 * ListResponse paging (RFC 7644 section 3.4.2.4), whose numbers are JSON integers (Okta: "need to be
 * exchanged as integers, not as strings").
 */
import { badScimRequest, type ScimError } from './ScimError';
import type { ScimPage, ScimPageResult } from './ScimDirectory';
import { MAX_PAGE_SIZE } from './scimDiscovery';
import type { ScimObject } from './scimRepresentation';
import { LIST_RESPONSE_SCHEMA } from './scimSchema';

export const SCIM_CONTENT_TYPE = 'application/scim+json';

/** What the caller sends back: the framework-free shape of an HTTP response. */
export interface ScimResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** JSON text, or undefined for 204 No Content. */
  readonly body: string | undefined;
}

export function scimJson(status: number, body: ScimObject, headers: Readonly<Record<string, string>> = {}): ScimResponse {
  return { status, headers: { 'content-type': SCIM_CONTENT_TYPE, ...headers }, body: JSON.stringify(body) };
}

export const NO_CONTENT: ScimResponse = { status: 204, headers: {}, body: undefined };

export function scimErrorResponse(error: ScimError, headers: Readonly<Record<string, string>> = {}): ScimResponse {
  return { status: error.status, headers: { 'content-type': SCIM_CONTENT_TYPE, ...headers }, body: JSON.stringify(error.toBody()) };
}

/** Okta's page size when a client names none. */
const DEFAULT_PAGE_SIZE = 100;

function readInteger(query: URLSearchParams, name: string): number | undefined {
  const text = query.get(name);
  if (text === null || text === '') return undefined;
  if (!/^-?\d{1,9}$/.test(text.trim())) throw badScimRequest('invalidValue', `${name} must be an integer.`);
  return Number(text.trim());
}

/**
 * startIndex and count as RFC 7644 section 3.4.2.4 reads them: a startIndex below 1 is 1, a negative count
 * is 0; count is capped at MAX_PAGE_SIZE (ServiceProviderConfig says so).
 */
export function readPage(query: URLSearchParams): ScimPage {
  const startIndex = Math.max(1, readInteger(query, 'startIndex') ?? 1);
  const count = Math.min(MAX_PAGE_SIZE, Math.max(0, readInteger(query, 'count') ?? DEFAULT_PAGE_SIZE));
  return { startIndex, count };
}

/**
 * GET on a collection: the filter read by `parseFilter` (null: it can match nothing, the store is not
 * asked; no filter: everything), one page found, each resource rendered.
 */
export async function listCollection<Filter, Resource>(
  query: URLSearchParams,
  parseFilter: (text: string) => readonly Filter[] | null,
  find: (filter: readonly Filter[], page: ScimPage) => Promise<ScimPageResult<Resource>>,
  render: (resource: Resource) => ScimObject,
): Promise<ScimResponse> {
  const page = readPage(query);
  const filterText = query.get('filter');
  const filter = filterText === null || filterText.trim() === '' ? [] : parseFilter(filterText);
  if (filter === null) return listResponse(page, 0, []);
  const { totalResults, resources } = await find(filter, page);
  return listResponse(page, totalResults, resources.map(render));
}

export function listResponse(page: ScimPage, totalResults: number, resources: readonly ScimObject[]): ScimResponse {
  return scimJson(200, {
    schemas: [LIST_RESPONSE_SCHEMA],
    totalResults,
    startIndex: page.startIndex,
    itemsPerPage: resources.length,
    Resources: [...resources],
  });
}
