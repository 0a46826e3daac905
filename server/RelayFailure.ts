import type { DeviceAddress } from '../shared/ids';
import type { RelayErrorCode, RelayError } from '../shared/wire/relay';

/**
 * An error the relay reports to a client as `{ code, message }` with a matching HTTP status. Messages
 * name ids and codes only, never passwords, codes or message content.
 */
export class RelayFailure extends Error {
  readonly code: RelayErrorCode;
  readonly extra: { issues?: string[]; retryAfterSeconds?: number; retryAfterMs?: number; devices?: DeviceAddress[]; share?: RelayError['share'] };

  constructor(code: RelayErrorCode, message: string, extra: RelayFailure['extra'] = {}) {
    super(message);
    this.name = 'RelayFailure';
    this.code = code;
    this.extra = extra;
  }

  get status(): number {
    return STATUS[this.code];
  }
}

/** When a client refused for want of storage should try again (an operator has to free space first). */
export const STORAGE_RETRY_SECONDS = 60;

/** The relay is out of storage (or keeping its last for deliveries): nothing new is stored for now. */
export function storageFull(message: string): RelayFailure {
  return new RelayFailure('RELAY_STORAGE_FULL', message, { retryAfterSeconds: STORAGE_RETRY_SECONDS, retryAfterMs: STORAGE_RETRY_SECONDS * 1000 });
}

const STATUS: Record<RelayErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHENTICATED: 401,
  INVALID_CREDENTIALS: 401,
  INVALID_CODE: 401,
  FORBIDDEN: 403,
  ACCOUNT_LOCKED: 403,
  ACCOUNT_INACTIVE: 403,
  NOT_FOUND: 404,
  UNKNOWN_DEVICE: 409,
  TOO_MANY_DEVICES: 409,
  PAYLOAD_TOO_LARGE: 413,
  PASSWORD_POLICY: 422,
  THROTTLED: 429,
  SEND_RATE_LIMITED: 429,
  KEY_FETCH_RATE_LIMITED: 429,
  KEY_UPLOAD_RATE_LIMITED: 429,
  DUPLICATE_ENVELOPE: 409,
  // 507 Insufficient Storage: the request is fine, the recipient's share of the relay's storage is not.
  RECIPIENT_QUEUE_FULL: 507,
  RELAY_STORAGE_FULL: 507,
  AUDIT_LOG_BROKEN: 409,
  SIGNATURE_INVALID: 422,
  ACCOUNT_NOT_PROVISIONED: 403,
  SSO_REQUIRED: 403,
  REAUTHENTICATION_REQUIRED: 401,
  // Single sign-on: the app's request is malformed (400), the answer it brought back does not hold (401), the
  // person may not sign in (403), or the provider cannot be used just now (502).
  OIDC_REQUEST_INVALID: 400,
  OIDC_REDIRECT_URI_REFUSED: 400,
  OIDC_STATE_MISMATCH: 401,
  OIDC_SIGN_IN_EXPIRED: 401,
  OIDC_CODE_REFUSED: 401,
  OIDC_TOKEN_INVALID: 401,
  OIDC_MFA_REQUIRED: 403,
  OIDC_USERNAME_MISSING: 403,
  OIDC_PROVIDER_REFUSED: 403,
  OIDC_PROVIDER_UNREACHABLE: 502,
  // 503: the request is fine, the relay is shedding load (Retry-After says when to come back).
  RELAY_BUSY: 503,
  RELAY_UNAVAILABLE: 503,
  // Attachment blobs: the sender's share of blob storage is used up (507, like a full queue); a chunk at the
  // wrong offset conflicts with what the relay holds (409); the bytes do not match what was declared (422).
  BLOB_QUOTA_EXCEEDED: 507,
  BLOB_OFFSET_MISMATCH: 409,
  BLOB_DIGEST_MISMATCH: 422,
  BLOB_RATE_LIMITED: 429,
  INTERNAL: 500,
};
