/*
 * Why a sign-in with the hospital's identity provider (OpenID Connect, issue 18) was refused: stable codes the
 * relay's relying party (server/auth/oidc) raises and the relay sends on as its own error codes, so the app
 * can say what to do. Pure: shared by the relay and the app.
 */
export const OIDC_ERROR_CODES = [
  /** The provider could not be reached, timed out, or answered with something that is not OpenID Connect. */
  'OIDC_PROVIDER_UNREACHABLE',
  /** The provider answered with an OAuth error other than a refused code (invalid_client, access_denied, ...). */
  'OIDC_PROVIDER_REFUSED',
  /** begin(): the redirect URI is neither a loopback one (RFC 8252) nor a configured harness one. */
  'OIDC_REDIRECT_URI_REFUSED',
  /** A request that is malformed in itself (a PKCE challenge or verifier of the wrong form, an empty code). */
  'OIDC_REQUEST_INVALID',
  /** The sign-in began too long ago (OidcRelyingParty's pendingTtlMs); start again. */
  'OIDC_SIGN_IN_EXPIRED',
  /** The `state` the app returned is not the one this sign-in began with. */
  'OIDC_STATE_MISMATCH',
  /** The provider refused the code: used before, expired, for another client or redirect URI, wrong PKCE verifier, or the account was disabled meanwhile. */
  'OIDC_CODE_REFUSED',
  /** The ID token (or the authorization response) failed a check: issuer, audience, signature, expiry, nonce, `iss` (RFC 9207). */
  'OIDC_TOKEN_INVALID',
  /** The relay's policy wants multi-factor sign-in and the provider does not say it happened (`amr`/`acr`). */
  'OIDC_MFA_REQUIRED',
  /** The claim the relay takes the username from is absent or not a usable name. */
  'OIDC_USERNAME_MISSING',
] as const;
