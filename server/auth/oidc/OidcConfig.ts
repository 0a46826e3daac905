import { z } from 'zod';
import { ConfigurationError } from '../../ConfigurationError';
import { readSecretLine } from '../../secretFile';

/*
 * The `oidc` section of the relay config file: sign-in with the hospital's identity provider (Entra ID, Okta,
 * Ping, AD FS) by OpenID Connect, authorization code with PKCE. The relay is the relying party; the desktop app
 * sends the user's browser to the provider and back to its own loopback redirect URI (RFC 8252), the browser
 * harness to one of `harnessRedirectUris`. The relay config file's `oidc` section (relayConfigFile.ts).
 */

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** https, or http on this machine only (a provider on loopback, as in tests): tokens never cross a network in clear. */
const IssuerUrl = z.string().refine((text) => {
  const url = URL.parse(text);
  if (!url || url.search || url.hash || url.username || url.password) return false;
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
}, 'issuer: the provider\'s issuer URL, https:// (http:// only on 127.0.0.1/localhost), without query or fragment');

/** A redirect URI registered at the provider for the harness page: absolute http(s), no query, no fragment. */
const HarnessRedirectUri = z.string().refine((text) => {
  const url = URL.parse(text);
  return !!url && (url.protocol === 'https:' || url.protocol === 'http:') && !url.search && !url.hash && !url.username && !url.password && url.href === text;
}, 'harnessRedirectUris: absolute http(s) URLs exactly as registered at the provider (normalised, e.g. with a path), without query or fragment');

const ClaimName = z.string().regex(/^[A-Za-z0-9_:.-]{1,64}$/, 'a claim name such as department or extension_department');
const AuthValue = z.string().min(1).max(256);

export const OidcConfigSchema = z.strictObject({
  /** The provider's issuer identifier; discovery reads `<issuer>/.well-known/openid-configuration`. */
  issuer: IssuerUrl,
  /** The client (application) id registered at the provider for Rounds. */
  clientId: z.string().min(1).max(256),
  /**
   * A file holding the client secret, for a confidential client (client_secret_basic); absent: a public client
   * (PKCE only), as a desktop app's registration usually is. Relative paths are relative to the config file.
   */
  clientSecretFile: z.string().min(1).optional(),
  /** Scopes asked for; must include openid. */
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope token')).min(1).default(['openid', 'profile', 'email'])
    .refine((scopes) => scopes.includes('openid'), 'scopes: openid must be one of them'),
  /** The ID token claim the Rounds username comes from (lower-cased): preferred_username (Entra, Okta), upn (AD FS) or email. */
  usernameClaim: z.enum(['preferred_username', 'upn', 'email']).default('preferred_username'),
  /** The ID token claim holding the department, if the provider sends one (Entra: an optional or extension claim). */
  departmentClaim: ClaimName.default('department'),
  /** The provider must say it did multi-factor (then Rounds does not ask for its own TOTP). */
  requireMfa: z.boolean().default(false),
  /** `amr` values (RFC 8176) that count as multi-factor. */
  mfaAmrValues: z.array(AuthValue).default(['mfa', 'otp', 'hwk', 'swk', 'fido']),
  /** `acr` values that count as multi-factor (a provider's own, e.g. Okta's phr/phrh or a site's LoA URI). */
  mfaAcrValues: z.array(AuthValue).default([]),
  /** Redirect URIs of the browser harness page (registered at the provider); the app's own are loopback. */
  harnessRedirectUris: z.array(HarnessRedirectUri).default([]),
  /** SSO accounts sign in at the provider again after this many days, so one disabled there stops working. */
  reauthenticateAfterDays: z.int().min(1).max(365).default(7),
  /**
   * What the provider is asked to do about a session it remembers in the workstation's browser (OpenID Connect
   * `prompt`): `login` (the default) has the clinician authenticate every time, so on a shared workstation the
   * previous clinician's provider session cannot sign the next one in, and a due re-authentication is one;
   * `select_account` lets her pick among remembered accounts; `none` sends no prompt (the provider decides).
   */
  prompt: z.enum(['login', 'select_account', 'none']).default('login'),
  /** How long one request to the provider may take (discovery, token, JWKS). */
  timeoutMs: z.int().min(1000).max(60_000).default(10_000),
  /** Clock skew tolerated on the ID token's exp and iat. */
  clockToleranceSeconds: z.int().min(0).max(300).default(30),
  /** The provider's name as users know it ("Contoso sign-in", "Okta"): messages say "sign in with <providerName>". */
  providerName: z.string().trim().min(1).max(64).refine((s) => !/\p{C}/u.test(s), 'providerName: no control characters').default('your hospital sign-in'),
  /**
   * A person the provider signs in who has no account here (none linked to them, none with their username):
   * true creates one (a clinician, from the ID token's name and department), false refuses them with
   * ACCOUNT_NOT_PROVISIONED (accounts come from the admin's `user add`, SCIM or LDAP only).
   */
  createAccounts: z.boolean().default(false),
}).refine((c) => !c.requireMfa || c.mfaAmrValues.length + c.mfaAcrValues.length > 0, {
  message: 'requireMfa needs at least one value in mfaAmrValues or mfaAcrValues',
});
export type OidcConfig = z.infer<typeof OidcConfigSchema>;
/** What a config file may leave out (the defaults fill it). */
export type OidcConfigInput = z.input<typeof OidcConfigSchema>;

/** The client secret from `clientSecretFile`: its first line (a provider's secrets have no spaces; any around it dropped). */
export function readOidcClientSecret(file: string): string {
  const secret = readSecretLine(file, 'OpenID Connect client secret').trim();
  if (!secret) throw new ConfigurationError(`the OpenID Connect client secret file ${file} is empty (its first line is the secret)`);
  return secret;
}
