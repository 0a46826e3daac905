/*
 * The static discovery documents of RFC 7644 section 4: /ServiceProviderConfig, /Schemas and
 * /ResourceTypes. Entra ID reads /Schemas when an administrator saves the provisioning configuration;
 * both identity providers read the configuration to learn that PATCH and filters work. The schemas list the
 * attributes Rounds keeps (scimSchema.ts), not those it accepts and drops.
 */
import { CORE_GROUP_SCHEMA, CORE_USER_SCHEMA, ENTERPRISE_USER_EXTENSION, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, type ScimAttribute, type ScimResourceSchema } from './scimSchema';
import type { ScimObject } from './scimRepresentation';

/** The most resources one page holds (RFC 7644 section 3.4.2.4 lets a server cap `count`). Okta asks for 100. */
export const MAX_PAGE_SIZE = 200;

function renderAttribute(attribute: ScimAttribute): ScimObject {
  return {
    name: attribute.name,
    type: attribute.type,
    multiValued: attribute.multiValued,
    description: attribute.description,
    required: attribute.required === true,
    caseExact: attribute.caseExact === true,
    mutability: attribute.mutability,
    returned: attribute.name === 'id' ? 'always' : 'default',
    uniqueness: attribute.uniqueness ?? 'none',
    ...(attribute.subAttributes === undefined ? {} : { subAttributes: keptOnly(attribute.subAttributes) }),
  };
}

function keptOnly(attributes: readonly ScimAttribute[]): ScimObject[] {
  return attributes.filter((attribute) => attribute.kept).map(renderAttribute);
}

function renderSchema(schema: ScimResourceSchema, baseUrl: string): ScimObject {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Schema'],
    id: schema.id,
    name: schema.name,
    description: schema.description,
    attributes: keptOnly(schema.attributes),
    meta: { resourceType: 'Schema', location: `${baseUrl}/Schemas/${schema.id}` },
  };
}

export function schemaDocuments(baseUrl: string): ScimObject[] {
  return [USER_SCHEMA, ENTERPRISE_USER_EXTENSION, GROUP_SCHEMA].map((schema) => renderSchema(schema, baseUrl));
}

export function resourceTypeDocuments(baseUrl: string): ScimObject[] {
  const resourceType = (id: string, endpoint: string, schema: string, extensions: string[]): ScimObject => ({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
    id,
    name: id,
    endpoint,
    description: id === 'User' ? 'Rounds accounts' : 'Care teams and departments',
    schema,
    schemaExtensions: extensions.map((extension) => ({ schema: extension, required: false })),
    meta: { resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/${id}` },
  });
  return [resourceType('User', '/Users', CORE_USER_SCHEMA, [ENTERPRISE_USER_SCHEMA]), resourceType('Group', '/Groups', CORE_GROUP_SCHEMA, [])];
}

export function serviceProviderConfig(baseUrl: string): ScimObject {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_PAGE_SIZE },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: false },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: 'A token made on the relay with `rounds-server scim token create`, sent as Authorization: Bearer.',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/ServiceProviderConfig` },
  };
}
