import type { RelayErrorCode } from '../shared/wire/relay';

/**
 * An error the relay reports to a client as `{ code, message }` with a matching HTTP status. Messages
 * name ids and codes only, never passwords, codes or message content.
 */
export class RelayFailure extends Error {
  readonly code: RelayErrorCode;
  readonly extra: { issues?: string[]; retryAfterSeconds?: number; retryAfterMs?: number; devices?: { userId: string; deviceId: number }[] };

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
  INTERNAL: 500,
};
