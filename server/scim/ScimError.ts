/*
 * The errors of the SCIM protocol (RFC 7644 section 3.12): an HTTP status, for 400 and 409 a `scimType`
 * keyword that says what was wrong, and a `detail` for the administrator reading the identity provider's
 * provisioning log. Details name attributes, operations and ids, never the values a request carried
 * (names, pager numbers, passwords Okta sends along): they end up in logs on both sides.
 */

export const SCIM_ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** RFC 7644 section 3.12, table 9 (the ones this server sends). */
export type ScimErrorType =
  | 'invalidFilter'
  | 'invalidPath'
  | 'invalidSyntax'
  | 'invalidValue'
  | 'mutability'
  | 'noTarget'
  | 'tooMany'
  | 'uniqueness';

export class ScimError extends Error {
  readonly status: number;
  readonly scimType: ScimErrorType | null;

  constructor(status: number, scimType: ScimErrorType | null, detail: string) {
    super(detail);
    this.name = 'ScimError';
    this.status = status;
    this.scimType = scimType;
  }

  /** The body RFC 7644 section 3.12 defines; `status` is a string there ("400"), as Entra ID's examples send it. */
  toBody(): ScimErrorBody {
    return {
      schemas: [SCIM_ERROR_SCHEMA],
      status: String(this.status),
      ...(this.scimType === null ? {} : { scimType: this.scimType }),
      detail: this.message,
    };
  }
}

export interface ScimErrorBody {
  readonly schemas: readonly [typeof SCIM_ERROR_SCHEMA];
  readonly status: string;
  readonly scimType?: ScimErrorType;
  readonly detail: string;
}

/** 400 with a scimType: the request can never succeed as sent. */
export function badScimRequest(scimType: ScimErrorType, detail: string): ScimError {
  return new ScimError(400, scimType, detail);
}

/**
 * 409 uniqueness: the store already has another account with this userName or externalId (or another
 * group with this displayName). The `ScimDirectory` implementation throws it; Okta stops the provisioning
 * job on it and Entra ID reports it in its log, as both document.
 */
export function scimUniquenessConflict(detail: string): ScimError {
  return new ScimError(409, 'uniqueness', detail);
}

/** 404 for a resource id this directory does not hold (RFC 7644 section 3.12: no scimType). */
export function scimNotFound(detail: string): ScimError {
  return new ScimError(404, null, detail);
}
