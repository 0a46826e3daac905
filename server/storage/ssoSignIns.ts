/*
 * What both stores decide the same way about single sign-on (issue 18): a stored pending sign-in read back, and
 * whether a completed sign-in may be recorded on an account.
 */
import { OidcPendingSignInSchema, type OidcPendingSignIn } from '../auth/oidc/OidcRelyingParty';
import type { SsoLink, UserRecord } from './RelayStore';

/** A stored pending sign-in, checked again on the way out (a row the relay did not write is not acted on). */
export function parsePending(text: string): OidcPendingSignIn | undefined {
  try {
    const parsed = OidcPendingSignInSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a sign-in as `link` may be recorded on `user`: not deactivated, linked to no other identity, the identity to no other account. */
export function linkable(user: UserRecord, link: SsoLink, holder: UserRecord | undefined): boolean {
  if (user.status === 'deactivated') return false;
  if (user.sso && (user.sso.issuer !== link.issuer || user.sso.subject !== link.subject)) return false;
  return !holder || holder.id === user.id;
}
