/*
 * The SCIM schemas this relay speaks (RFC 7643): the core User with the enterprise extension, and the core
 * Group. One table serves three purposes: the /Schemas discovery document, the case-insensitive attribute
 * names of requests (RFC 7643 section 2.1: "Attribute names are case insensitive"; Entra ID and Okta send
 * them camel-cased, but nothing obliges them to), and the line between an attribute Rounds keeps, one it
 * accepts and ignores (Entra ID sends e-mail addresses, Okta passwords and locales), and one no schema
 * defines, which a PATCH path may not name.
 */

export const CORE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const CORE_GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const LIST_RESPONSE_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

export type ScimAttributeType = 'string' | 'boolean' | 'complex' | 'reference' | 'dateTime';
export type ScimMutability = 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';

export interface ScimAttribute {
  readonly name: string;
  readonly type: ScimAttributeType;
  readonly multiValued: boolean;
  readonly mutability: ScimMutability;
  /** true: Rounds stores it and returns it (and /Schemas lists it); false: accepted in requests and dropped. */
  readonly kept: boolean;
  readonly description: string;
  readonly required?: boolean;
  readonly caseExact?: boolean;
  readonly uniqueness?: 'none' | 'server';
  /** Absent on a complex attribute Rounds ignores: any sub-attribute is accepted (and dropped). */
  readonly subAttributes?: readonly ScimAttribute[];
}

export interface ScimResourceSchema {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly attributes: readonly ScimAttribute[];
}

function kept(name: string, description: string, extra: Partial<ScimAttribute> = {}): ScimAttribute {
  return { name, type: 'string', multiValued: false, mutability: 'readWrite', kept: true, description, ...extra };
}

function ignored(name: string, extra: Partial<ScimAttribute> = {}): ScimAttribute {
  return { name, type: 'string', multiValued: false, mutability: 'readWrite', kept: false, description: 'Accepted and not stored by Rounds.', ...extra };
}

/** A multi-valued complex attribute Rounds accepts and drops (RFC 7643 section 4.1.2). */
function ignoredList(name: string, mutability: ScimMutability = 'readWrite'): ScimAttribute {
  return ignored(name, { type: 'complex', multiValued: true, mutability });
}

const PHONE_NUMBER_SUBATTRIBUTES: readonly ScimAttribute[] = [
  kept('value', 'The number, as the directory has it.'),
  kept('type', 'Rounds keeps one number: "pager", else "work"; it returns it as "work".'),
  kept('primary', 'Ignored on input; true on output.', { type: 'boolean' }),
  ignored('display'),
];

export const USER_SCHEMA: ScimResourceSchema = {
  id: CORE_USER_SCHEMA,
  name: 'User',
  description: 'A clinician or other member of staff with a Rounds account',
  attributes: [
    kept('id', 'The Rounds account id.', { mutability: 'readOnly', caseExact: true, uniqueness: 'server' }),
    kept('externalId', "The identity provider's id for the person.", { caseExact: true }),
    kept('userName', 'The sign-in name: a short name or a UPN; Rounds keeps it lower-cased.', { required: true, uniqueness: 'server' }),
    kept('name', 'The parts of the name; Rounds keeps the whole (displayName) and returns it as formatted.', {
      type: 'complex',
      subAttributes: [
        kept('formatted', 'The full name; used as displayName when none is sent.'),
        kept('givenName', 'With familyName, the displayName when neither displayName nor formatted is sent.'),
        kept('familyName', 'With givenName, the displayName when neither displayName nor formatted is sent.'),
        ignored('middleName'),
        ignored('honorificPrefix'),
        ignored('honorificSuffix'),
      ],
    }),
    kept('displayName', 'The name colleagues see in the directory.'),
    ignored('nickName'),
    ignored('profileUrl', { type: 'reference' }),
    kept('title', 'Job title ("Charge nurse").'),
    ignored('userType'),
    ignored('preferredLanguage'),
    ignored('locale'),
    ignored('timezone'),
    kept('active', 'false cuts off every workstation of the account at once.', { type: 'boolean' }),
    ignored('password', { mutability: 'writeOnly' }),
    ignoredList('emails'),
    kept('phoneNumbers', 'The pager or work number colleagues reach the person on outside Rounds.', {
      type: 'complex',
      multiValued: true,
      subAttributes: PHONE_NUMBER_SUBATTRIBUTES,
    }),
    ignoredList('ims'),
    ignoredList('photos'),
    ignoredList('addresses'),
    ignoredList('groups', 'readOnly'),
    ignoredList('entitlements'),
    ignoredList('roles'),
    ignoredList('x509Certificates'),
  ],
};

export const ENTERPRISE_USER_EXTENSION: ScimResourceSchema = {
  id: ENTERPRISE_USER_SCHEMA,
  name: 'EnterpriseUser',
  description: 'Enterprise User',
  attributes: [
    ignored('employeeNumber'),
    ignored('costCenter'),
    ignored('organization'),
    ignored('division'),
    kept('department', 'The department colleagues search by.'),
    ignored('manager', { type: 'complex' }),
  ],
};

export const GROUP_SCHEMA: ScimResourceSchema = {
  id: CORE_GROUP_SCHEMA,
  name: 'Group',
  description: 'A care team or department',
  attributes: [
    kept('id', 'The Rounds group id.', { mutability: 'readOnly', caseExact: true, uniqueness: 'server' }),
    kept('externalId', "The identity provider's id for the group.", { caseExact: true }),
    kept('displayName', 'The group name; unique among SCIM groups (Entra ID matches groups by it).', { required: true, uniqueness: 'server' }),
    kept('members', 'Rounds accounts in the group.', {
      type: 'complex',
      multiValued: true,
      subAttributes: [
        kept('value', 'The member account id.', { mutability: 'immutable', caseExact: true }),
        kept('$ref', 'The member URI.', { type: 'reference', mutability: 'immutable' }),
        ignored('display', { mutability: 'immutable' }),
        ignored('type', { mutability: 'immutable' }),
      ],
    }),
  ],
};

/** A resource type's schema and extensions, as its requests may address them. */
export interface ScimResourceShape {
  readonly core: ScimResourceSchema;
  readonly extensions: readonly ScimResourceSchema[];
}

export const USER_SHAPE: ScimResourceShape = { core: USER_SCHEMA, extensions: [ENTERPRISE_USER_EXTENSION] };
export const GROUP_SHAPE: ScimResourceShape = { core: GROUP_SCHEMA, extensions: [] };

/** An attribute named in a request, resolved against a shape: `extension` null for the core schema. */
export interface ResolvedAttribute {
  readonly extension: ScimResourceSchema | null;
  readonly attribute: ScimAttribute;
}

function findAttribute(attributes: readonly ScimAttribute[], name: string): ScimAttribute | undefined {
  const lower = name.toLowerCase();
  return attributes.find((attribute) => attribute.name.toLowerCase() === lower);
}

/** The sub-attribute of a complex attribute, by name in any case; undefined when the schema defines none such. */
export function findSubAttribute(parent: ScimAttribute, name: string): ScimAttribute | undefined {
  // Any name is accepted under a complex attribute Rounds drops, except one that would set a prototype.
  if (parent.subAttributes === undefined) return parent.type === 'complex' && name !== '__proto__' ? ignored(name) : undefined;
  return findAttribute(parent.subAttributes, name);
}

/** The extension schema a URN names (any case), or undefined. */
export function findExtension(shape: ScimResourceShape, urn: string): ScimResourceSchema | undefined {
  const lower = urn.toLowerCase();
  return shape.extensions.find((extension) => extension.id.toLowerCase() === lower);
}

/**
 * Resolves `userName`, `urn:ietf:params:scim:schemas:core:2.0:User:userName` or
 * `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department` (names in any case). An
 * extension attribute is also found by its bare name when the core schema has none of that name.
 */
export function resolveAttribute(shape: ScimResourceShape, qualifiedName: string): ResolvedAttribute | undefined {
  const colon = qualifiedName.lastIndexOf(':');
  if (colon >= 0) {
    const urn = qualifiedName.slice(0, colon).toLowerCase();
    const name = qualifiedName.slice(colon + 1);
    if (urn === shape.core.id.toLowerCase()) {
      const attribute = findAttribute(shape.core.attributes, name);
      return attribute === undefined ? undefined : { extension: null, attribute };
    }
    const extension = findExtension(shape, urn);
    const attribute = extension === undefined ? undefined : findAttribute(extension.attributes, name);
    return extension === undefined || attribute === undefined ? undefined : { extension, attribute };
  }
  const core = findAttribute(shape.core.attributes, qualifiedName);
  if (core !== undefined) return { extension: null, attribute: core };
  for (const extension of shape.extensions) {
    const attribute = findAttribute(extension.attributes, qualifiedName);
    if (attribute !== undefined) return { extension, attribute };
  }
  return undefined;
}
