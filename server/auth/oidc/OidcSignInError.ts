import type { ClientError } from 'openid-client';
import { OIDC_ERROR_CODES } from '../../../shared/wire/ssoErrors';

/*
 * Why a sign-in with the hospital's identity provider was refused, as stable codes. Messages say what went wrong
 * and what to do; they never carry a code, a token or a claim's value (the provider's own error objects hold
 * the token response and the token's claims, so they are never kept as `cause`).
 */
export { OIDC_ERROR_CODES };
export type OidcErrorCode = (typeof OIDC_ERROR_CODES)[number];

export class OidcSignInError extends Error {
  readonly code: OidcErrorCode;

  constructor(code: OidcErrorCode, message: string) {
    super(message);
    this.name = 'OidcSignInError';
    this.code = code;
  }
}

/** OAuth error codes that mean "this code will not be exchanged" (RFC 6749 section 5.2). */
const CODE_REFUSALS = new Set(['invalid_grant']);

/** openid-client / oauth4webapi error codes of a response that failed validation. */
const VALIDATION_FAILURES = new Set([
  'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
  'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
  'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED',
  'OAUTH_KEY_SELECTION_FAILED',
  'OAUTH_INVALID_RESPONSE',
  'OAUTH_PARSE_ERROR',
]);

/** OAuth's error and error_description, trimmed to printable text (they come from the provider). */
function providerSaid(error: string | undefined, description: string | undefined): string {
  const clean = (text: string | undefined) => (text ?? '').replace(/[^\x20-\x7e]/g, '').slice(0, 200);
  return description ? `${clean(error)} (${clean(description)})` : clean(error) || 'no error code';
}

/**
 * Sorts whatever a step with the provider threw into a sign-in error; `step` names the step for the message.
 * `oidc`: openid-client's error classes (OidcRelyingParty loads the library on first use, not with this module).
 */
export function signInErrorFrom(error: unknown, step: string, oidc: Pick<typeof import('openid-client'), 'AuthorizationResponseError' | 'ResponseBodyError' | 'WWWAuthenticateChallengeError'>): OidcSignInError {
  const { AuthorizationResponseError, ResponseBodyError, WWWAuthenticateChallengeError } = oidc;
  if (error instanceof OidcSignInError) return error;
  if (error instanceof ResponseBodyError) {
    const said = providerSaid(error.error, error.error_description);
    return CODE_REFUSALS.has(error.error)
      ? new OidcSignInError('OIDC_CODE_REFUSED', `the identity provider refused the sign-in code at ${step}: ${said}; sign in again`)
      : new OidcSignInError('OIDC_PROVIDER_REFUSED', `the identity provider refused ${step}: ${said}`);
  }
  if (error instanceof WWWAuthenticateChallengeError) {
    // 401 with a challenge: the provider did not accept the relay's client authentication.
    const challenge = error.cause[0]?.parameters;
    return new OidcSignInError('OIDC_PROVIDER_REFUSED', `the identity provider refused the relay's client credentials at ${step}: ${providerSaid(challenge?.error, challenge?.error_description)}; check clientId and the client secret file`);
  }
  if (error instanceof AuthorizationResponseError) {
    return new OidcSignInError('OIDC_PROVIDER_REFUSED', `the identity provider refused the sign-in: ${providerSaid(error.error, error.error_description)}`);
  }
  const code = error instanceof Error ? (error as ClientError).code : undefined;
  if (code && VALIDATION_FAILURES.has(code)) {
    return new OidcSignInError('OIDC_TOKEN_INVALID', `the identity provider's answer to ${step} failed verification: ${error instanceof Error ? error.message : code}`);
  }
  if (code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || code === 'OAUTH_RESPONSE_IS_NOT_JSON' || code === 'OAUTH_INVALID_SERVER_METADATA' || code === 'OAUTH_MISSING_SERVER_METADATA') {
    return new OidcSignInError('OIDC_PROVIDER_UNREACHABLE', `the identity provider did not answer ${step} as OpenID Connect expects (${code})`);
  }
  if (isNetworkFailure(error)) {
    return new OidcSignInError('OIDC_PROVIDER_UNREACHABLE', `the identity provider could not be reached for ${step}: ${networkReason(error)}`);
  }
  return new OidcSignInError('OIDC_TOKEN_INVALID', `the identity provider's answer to ${step} could not be used: ${error instanceof Error ? `${error.name}${code ? ` ${code}` : ''}` : typeof error}`);
}

function isNetworkFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'TimeoutError' || error.name === 'AbortError' || (error as ClientError).code === 'OAUTH_TIMEOUT') return true;
  return error instanceof TypeError && /fetch failed/i.test(error.message);
}

/** A timeout, or the system's word for the failed connection (ECONNREFUSED, ENOTFOUND, a TLS failure). */
function networkReason(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown failure';
  if (error.name === 'TimeoutError' || error.name === 'AbortError' || (error as ClientError).code === 'OAUTH_TIMEOUT') return 'it did not answer in time';
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  return typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message.slice(0, 200) : error.message;
}
