import { z } from 'zod';
import { LoginRequestSchema } from './relay';

/*
 * Sign-in with the hospital's identity provider (OpenID Connect, authorization code with PKCE; issue 18), as
 * the relay's wire protocol carries it. Enrollment and adding a workstation are the same two calls:
 *   POST /v1/sso/begin    { redirectUri, codeChallenge }  ->  { authorizationUrl, state }
 *   (the app opens authorizationUrl in the system browser; its loopback listener receives code, state, iss)
 *   POST /v1/sso/complete { state, code, codeVerifier, iss?, device }  ->  SessionResponse (as /v1/login)
 * The app keeps the PKCE verifier (it sends only the S256 challenge at begin); the relay keeps state and nonce.
 * Codes and verifiers are secrets: neither side logs them.
 */

/** BASE64URL(SHA-256(verifier)): 43 characters (RFC 7636, S256). */
export const PkceChallengeSchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'the S256 challenge of the PKCE verifier: 43 base64url characters');
/** RFC 7636: 43 to 128 unreserved characters. */
export const PkceVerifierSchema = z.string().regex(/^[A-Za-z0-9._~-]{43,128}$/, 'the PKCE code verifier: 43 to 128 characters of A-Z a-z 0-9 - . _ ~');
/** A code, state or issuer as providers send them back: printable ASCII, bounded. */
const OpaqueSchema = z.string().regex(/^[\x21-\x7e]{1,2048}$/, 'printable ASCII, at most 2048 characters');

export const SsoBeginRequestSchema = z.strictObject({
  /** The app's loopback listener (http://127.0.0.1:PORT/PATH or http://[::1]:PORT/PATH, RFC 8252), or a configured harness URI. */
  redirectUri: z.string().min(1).max(2048),
  codeChallenge: PkceChallengeSchema,
});
export type SsoBeginRequest = z.infer<typeof SsoBeginRequestSchema>;

export const SsoBeginResponseSchema = z.strictObject({
  /** Where the app sends the user's browser (the provider's authorization endpoint, with the request). */
  authorizationUrl: z.url({ protocol: /^https?$/ }).max(8192),
  /** The state the redirect must come back with (the app checks it before it calls complete). */
  state: OpaqueSchema,
});
export type SsoBeginResponse = z.infer<typeof SsoBeginResponseSchema>;

export const SsoCompleteRequestSchema = z.strictObject({
  state: OpaqueSchema,
  code: OpaqueSchema,
  codeVerifier: PkceVerifierSchema,
  /** The redirect's `iss` parameter (RFC 9207), passed on as received whenever present. */
  iss: OpaqueSchema.optional(),
  /** A new workstation (its name and keys), or one of this account's that signs in again. */
  device: LoginRequestSchema.shape.device,
});
export type SsoCompleteRequest = z.infer<typeof SsoCompleteRequestSchema>;

/**
 * GET /v1/sso: whether this relay offers sign-in with the hospital's identity provider, and its name as users
 * know it ("Sign in with <providerName>"). A relay without an `oidc` section answers NOT_FOUND (404).
 */
export const SsoProviderResponseSchema = z.strictObject({
  providerName: z.string().min(1).max(64),
});
export type SsoProviderResponse = z.infer<typeof SsoProviderResponseSchema>;
