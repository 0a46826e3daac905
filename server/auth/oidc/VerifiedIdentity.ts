import { foldUsername } from '../../../shared/wire/username';
import type { OidcConfig } from './OidcConfig';
import { OidcSignInError } from './OidcSignInError';

/**
 * Who the provider says signed in, after every check (OidcRelyingParty.complete). Organisational data only;
 * no token is kept.
 */
export interface VerifiedIdentity {
  /** The provider's issuer identifier; with `subject`, the stable key of the person at that provider. */
  readonly issuer: string;
  readonly subject: string;
  /** From the configured claim, lower-cased (`j.smith@hospital.example`, `asmith`). */
  readonly username: string;
  readonly displayName: string;
  readonly email?: string;
  readonly department?: string;
  /** Authentication methods (RFC 8176), as the ID token lists them; empty when it says nothing. */
  readonly amr: readonly string[];
  readonly acr?: string;
  /** When the user last authenticated at the provider (ms since the epoch): `auth_time`, else the token's `iat`. */
  readonly authTime: number;
}

/** The claims of a verified ID token (openid-client's IDToken and any other claim). */
export type IdTokenClaims = Readonly<Record<string, unknown>>;

/** Printable, no control characters or spaces at either end, at most 256 characters (a UPN is at most 113). */
const USABLE_NAME = /^[^\s\p{C}](?:[^\p{C}]{0,254}[^\s\p{C}])?$/u;

function text(claims: IdTokenClaims, name: string): string | undefined {
  const value = claims[name];
  return typeof value === 'string' && value.trim() !== '' && value.length <= 1024 ? value.trim() : undefined;
}

/** The identity an ID token's claims describe, or OIDC_USERNAME_MISSING when the username claim is unusable. */
export function identityFromClaims(claims: IdTokenClaims, config: Pick<OidcConfig, 'usernameClaim' | 'departmentClaim'>): VerifiedIdentity {
  const rawUsername = text(claims, config.usernameClaim);
  const username = rawUsername === undefined ? undefined : foldUsername(rawUsername);
  if (!username || !USABLE_NAME.test(username)) {
    throw new OidcSignInError(
      'OIDC_USERNAME_MISSING',
      `the identity provider's ID token has no usable ${config.usernameClaim} claim for the username: have the provider send it (scopes profile/email, or an optional claim), or set usernameClaim to one it sends`,
    );
  }
  // An address the provider itself says is unverified may be anyone's: never a username (absent is taken:
  // Entra ID does not send email_verified).
  if (config.usernameClaim === 'email' && claims['email_verified'] === false) {
    throw new OidcSignInError('OIDC_USERNAME_MISSING', 'the identity provider says this e-mail address is not verified, so it cannot be the username: verify it at the provider, or set usernameClaim to preferred_username or upn');
  }
  const issuer = text(claims, 'iss');
  const subject = text(claims, 'sub');
  const iat = claims['iat'];
  const authTime = typeof claims['auth_time'] === 'number' ? claims['auth_time'] : iat;
  if (!issuer || !subject || typeof authTime !== 'number') {
    throw new OidcSignInError('OIDC_TOKEN_INVALID', 'the identity provider\'s ID token lacks iss, sub or iat');
  }
  const givenFamily = [text(claims, 'given_name'), text(claims, 'family_name')].filter(Boolean).join(' ');
  const amr = Array.isArray(claims['amr']) ? claims['amr'].filter((v): v is string => typeof v === 'string') : [];
  const email = text(claims, 'email');
  const department = text(claims, config.departmentClaim);
  const acr = text(claims, 'acr');
  return {
    issuer, subject, username,
    displayName: text(claims, 'name') ?? (givenFamily || username),
    ...(email ? { email } : {}),
    ...(department ? { department } : {}),
    amr,
    ...(acr ? { acr } : {}),
    authTime: authTime * 1000,
  };
}

/** Under `requireMfa`, the identity must show multi-factor: an `amr` in mfaAmrValues or its `acr` in mfaAcrValues. */
export function checkMfaPolicy(identity: VerifiedIdentity, config: Pick<OidcConfig, 'requireMfa' | 'mfaAmrValues' | 'mfaAcrValues'>): void {
  if (!config.requireMfa) return;
  if (identity.amr.some((method) => config.mfaAmrValues.includes(method))) return;
  if (identity.acr !== undefined && config.mfaAcrValues.includes(identity.acr)) return;
  const said = identity.amr.length ? `amr ${identity.amr.join(', ')}` : 'no amr';
  throw new OidcSignInError(
    'OIDC_MFA_REQUIRED',
    `this relay requires multi-factor sign-in and the identity provider reported ${said}${identity.acr ? ` and acr ${identity.acr}` : ''}: sign in with a second factor (the provider's policy must require it for Rounds)`,
  );
}
