import { timingSafeEqual } from 'node:crypto';
import type { ClientAuth, ClientMetadata, Configuration } from 'openid-client';
import { z } from 'zod';
import { systemClock, type Clock } from '../../Clock';
import { ConfigurationError } from '../../ConfigurationError';
import type { OidcConfig } from './OidcConfig';
import { OidcSignInError, signInErrorFrom } from './OidcSignInError';
import { checkRedirectUri } from './redirectUris';
import { checkMfaPolicy, identityFromClaims, type VerifiedIdentity } from './VerifiedIdentity';

/*
 * The relay as OpenID Connect relying party (issue 18), on panva's openid-client. Authorization code with PKCE,
 * split between the two parties that each hold one secret:
 * - the relay holds `state` and `nonce` (in the pending sign-in its caller stores, single use): the answer must be
 *   to this relay's request, and the ID token minted for it;
 * - the app holds the PKCE verifier (it sent only the S256 challenge): a code that leaked from the browser on its
 *   way to the loopback listener is useless to anyone but the app that began the sign-in.
 * Secrets: codes, the verifier, tokens and the client secret pass through here and are never logged or put in
 * an error message (OidcSignInError.ts); this file logs nothing.
 */

/** RFC 7636: the S256 challenge is 43 base64url characters; the verifier 43-128 unreserved characters. */
const PKCE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const PKCE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
/** A code or state as providers issue them: printable ASCII, bounded. */
const OPAQUE = /^[\x21-\x7e]{1,2048}$/;
/**
 * openid-client (with oauth4webapi and jose) is loaded by the first sign-in, not when the relay starts: a relay
 * without single sign-on never needs it, and one with it needs it only while someone signs in.
 */
type OpenIdClient = typeof import('openid-client');
let openIdClient: Promise<OpenIdClient> | undefined;
const loadOpenIdClient = (): Promise<OpenIdClient> => (openIdClient ??= import('openid-client'));

/** How long a begun sign-in may take to come back (the user types a password, maybe a second factor). */
export const DEFAULT_PENDING_TTL_MS = 10 * 60_000;

/** What the relay keeps between begin and complete (its caller stores it, single use; shared by relay instances). */
export const OidcPendingSignInSchema = z.strictObject({
  state: z.string().regex(OPAQUE),
  nonce: z.string().regex(OPAQUE),
  redirectUri: z.string().min(1).max(2048),
  codeChallenge: z.string().regex(PKCE_CHALLENGE),
  /** ms since the epoch (the relay's clock). */
  createdAt: z.int().min(0),
});
export type OidcPendingSignIn = z.infer<typeof OidcPendingSignInSchema>;

export interface OidcSignInRequest {
  /** Where the provider sends the browser back: the app's loopback listener, or a configured harness URI. */
  readonly redirectUri: string;
  /** BASE64URL(SHA-256(verifier)) of the app's PKCE verifier (S256; plain is not offered). */
  readonly codeChallenge: string;
}

export interface OidcSignInStart {
  /** Where the app sends the user's browser. */
  readonly authorizationUrl: string;
  readonly pending: OidcPendingSignIn;
}

/** What the app brings back from its redirect URI, plus its PKCE verifier. */
export interface OidcAuthorizationResponse {
  readonly code: string;
  readonly state: string;
  readonly codeVerifier: string;
  /** The `iss` response parameter (RFC 9207); required when the provider's metadata says it sends one. */
  readonly iss?: string;
}

export interface OidcRelyingPartyOptions {
  readonly config: OidcConfig;
  /** The secret from `clientSecretFile` (readOidcClientSecret), for a confidential client. */
  readonly clientSecret?: string;
  readonly clock?: Clock;
  readonly pendingTtlMs?: number;
}

export class OidcRelyingParty {
  readonly #config: OidcConfig;
  readonly #clientSecret: string | undefined;
  readonly #clock: Clock;
  readonly #pendingTtlMs: number;
  /** The discovered provider: fetched once, again after a failure (a provider that moved or was down). */
  #discovered: Promise<Configuration> | undefined;

  constructor(options: OidcRelyingPartyOptions) {
    if (options.config.clientSecretFile !== undefined && !options.clientSecret) {
      throw new ConfigurationError('oidc.clientSecretFile is configured but no client secret was read from it (readOidcClientSecret)');
    }
    this.#config = options.config;
    this.#clientSecret = options.clientSecret;
    this.#clock = options.clock ?? systemClock;
    this.#pendingTtlMs = options.pendingTtlMs ?? DEFAULT_PENDING_TTL_MS;
  }

  /** The authorization URL for the app to open, and what to keep until the app comes back with a code. */
  async begin(request: OidcSignInRequest): Promise<OidcSignInStart> {
    const redirectUri = checkRedirectUri(request.redirectUri, this.#config.harnessRedirectUris);
    if (typeof request.codeChallenge !== 'string' || !PKCE_CHALLENGE.test(request.codeChallenge)) {
      throw new OidcSignInError('OIDC_REQUEST_INVALID', 'the PKCE code challenge must be 43 base64url characters (S256 of the verifier)');
    }
    const oidc = await loadOpenIdClient();
    const configuration = await this.#provider();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    let url: URL;
    try {
      url = oidc.buildAuthorizationUrl(configuration, {
        redirect_uri: redirectUri,
        scope: this.#config.scopes.join(' '),
        state,
        nonce,
        code_challenge: request.codeChallenge,
        code_challenge_method: 'S256',
        ...(this.#config.prompt === 'none' ? {} : { prompt: this.#config.prompt }),
      });
    } catch (error) {
      throw signInErrorFrom(error, 'the authorization request', oidc);
    }
    return {
      authorizationUrl: url.href,
      pending: { state, nonce, redirectUri, codeChallenge: request.codeChallenge, createdAt: this.#clock.now() },
    };
  }

  /**
   * Exchanges the code (with the app's verifier, at the pending redirect URI) and verifies the ID token: issuer,
   * audience, signature against the provider's JWKS, nonce, expiry and iat (with the configured clock skew),
   * then the relay's MFA policy. The caller must have removed `pending` from its store before calling (single use).
   */
  async complete(pending: OidcPendingSignIn, response: OidcAuthorizationResponse): Promise<VerifiedIdentity> {
    const begun = OidcPendingSignInSchema.safeParse(pending);
    if (!begun.success) throw new OidcSignInError('OIDC_REQUEST_INVALID', 'the pending sign-in is malformed; start again');
    checkResponseShape(response);
    checkRedirectUri(begun.data.redirectUri, this.#config.harnessRedirectUris);
    const now = this.#clock.now();
    if (now - begun.data.createdAt > this.#pendingTtlMs) {
      throw new OidcSignInError('OIDC_SIGN_IN_EXPIRED', `the sign-in began more than ${Math.round(this.#pendingTtlMs / 60_000)} minutes ago; start again`);
    }
    if (!sameText(response.state, begun.data.state)) {
      throw new OidcSignInError('OIDC_STATE_MISMATCH', 'the sign-in response belongs to another sign-in (state does not match); start again');
    }
    const oidc = await loadOpenIdClient();
    // The verifier must be the one whose challenge this sign-in sent; the provider checks it too.
    if (!sameText(await oidc.calculatePKCECodeChallenge(response.codeVerifier), begun.data.codeChallenge)) {
      throw new OidcSignInError('OIDC_CODE_REFUSED', 'the PKCE code verifier does not match the challenge this sign-in began with; start again');
    }
    const discovered = await this.#provider();
    checkIssuerParameter(response.iss, discovered);

    const callback = new URL(begun.data.redirectUri);
    callback.searchParams.set('code', response.code);
    callback.searchParams.set('state', response.state);
    if (response.iss !== undefined) callback.searchParams.set('iss', response.iss);
    let claims: Readonly<Record<string, unknown>> | undefined;
    try {
      const tokens = await oidc.authorizationCodeGrant(this.#exchangeConfiguration(discovered, oidc), callback, {
        pkceCodeVerifier: response.codeVerifier,
        expectedState: begun.data.state,
        expectedNonce: begun.data.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (error) {
      const refusal = signInErrorFrom(error, 'the code exchange', oidc);
      if (refusal.code === 'OIDC_PROVIDER_UNREACHABLE') this.#discovered = undefined;
      throw refusal;
    }
    if (!claims) throw new OidcSignInError('OIDC_TOKEN_INVALID', 'the identity provider returned no ID token');
    // openid-client checks exp (with the tolerance) but takes any iat: one from the future is refused here.
    if (typeof claims['iat'] !== 'number' || claims['iat'] * 1000 > this.#clock.now() + this.#config.clockToleranceSeconds * 1000) {
      throw new OidcSignInError('OIDC_TOKEN_INVALID', `the identity provider's ID token was issued in the future (beyond the ${this.#config.clockToleranceSeconds} s clock tolerance): check both clocks`);
    }
    const identity = identityFromClaims(claims, this.#config);
    checkMfaPolicy(identity, this.#config);
    return identity;
  }

  #provider(): Promise<Configuration> {
    this.#discovered ??= (async () => {
      const oidc = await loadOpenIdClient();
      try {
        return await oidc.discovery(new URL(this.#config.issuer), this.#config.clientId, this.#clientMetadata(oidc), this.#clientAuth(oidc), {
          timeout: this.#timeoutSeconds(),
          execute: this.#insecureLoopback() ? [oidc.allowInsecureRequests] : [],
        });
      } catch (error) {
        throw signInErrorFrom(error, `discovery of ${this.#config.issuer}`, oidc);
      }
    })().catch((error: unknown) => {
      this.#discovered = undefined;
      throw error;
    });
    return this.#discovered;
  }

  /**
   * A configuration of its own for each code exchange, from the discovered metadata: openid-client keeps a JWKS
   * per configuration and fetches it again for an unknown key id only once the copy is a minute old, so a key
   * rotated within a minute of the last sign-in would be refused. Fetching the JWKS once per sign-in (rare:
   * enrollment, a new workstation, re-authentication every few days) always sees the provider's current keys.
   */
  #exchangeConfiguration(discovered: Configuration, oidc: OpenIdClient): Configuration {
    const configuration = new oidc.Configuration(discovered.serverMetadata(), this.#config.clientId, this.#clientMetadata(oidc), this.#clientAuth(oidc));
    configuration.timeout = this.#timeoutSeconds();
    if (this.#insecureLoopback()) oidc.allowInsecureRequests(configuration);
    // Verify the ID token's signature against the JWKS too, not only trust the TLS connection it came over.
    oidc.enableNonRepudiationChecks(configuration);
    return configuration;
  }

  #clientMetadata(oidc: OpenIdClient): Partial<ClientMetadata> {
    return { [oidc.clockTolerance]: this.#config.clockToleranceSeconds };
  }

  #clientAuth(oidc: OpenIdClient): ClientAuth {
    return this.#clientSecret ? oidc.ClientSecretBasic(this.#clientSecret) : oidc.None();
  }

  #timeoutSeconds(): number {
    return Math.max(1, Math.ceil(this.#config.timeoutMs / 1000));
  }

  /** The schema allows http only for an issuer on loopback. */
  #insecureLoopback(): boolean {
    return new URL(this.#config.issuer).protocol === 'http:';
  }
}

function checkResponseShape(response: OidcAuthorizationResponse): void {
  const { code, state, codeVerifier, iss } = response as Partial<Record<keyof OidcAuthorizationResponse, unknown>>;
  if (typeof code !== 'string' || !OPAQUE.test(code)) throw new OidcSignInError('OIDC_REQUEST_INVALID', 'the sign-in response has no usable code');
  if (typeof state !== 'string' || !OPAQUE.test(state)) throw new OidcSignInError('OIDC_STATE_MISMATCH', 'the sign-in response has no usable state; start again');
  if (typeof codeVerifier !== 'string' || !PKCE_VERIFIER.test(codeVerifier)) {
    throw new OidcSignInError('OIDC_REQUEST_INVALID', 'the PKCE code verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~');
  }
  if (iss !== undefined && (typeof iss !== 'string' || !OPAQUE.test(iss))) throw new OidcSignInError('OIDC_REQUEST_INVALID', 'the iss response parameter is malformed');
}

/** RFC 9207: the response names the issuer it came from (a mix-up defence); required if the provider says it sends it. */
function checkIssuerParameter(iss: string | undefined, discovered: Configuration): void {
  const metadata = discovered.serverMetadata();
  if (iss === undefined) {
    if (metadata.authorization_response_iss_parameter_supported) {
      throw new OidcSignInError('OIDC_TOKEN_INVALID', 'the identity provider sends the iss response parameter (RFC 9207) and this response lacks it; pass it on from the redirect');
    }
    return;
  }
  if (iss !== metadata.issuer) {
    throw new OidcSignInError('OIDC_TOKEN_INVALID', `the sign-in response came from issuer ${JSON.stringify(iss.slice(0, 200))}, not the configured ${metadata.issuer} (RFC 9207 mix-up defence)`);
  }
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}
