/**
 * Issue 18, single sign-on: the identity at the hospital's OpenID provider an account signs in with (issuer and
 * subject, unique together) and when it last signed in there (re-authentication counts from it), and the
 * sign-ins begun at the provider and not yet completed (by their state; single use, purged once expired).
 */
export const name = 'sso-sign-ins';

export const up = `
ALTER TABLE users ADD COLUMN sso_issuer TEXT;
ALTER TABLE users ADD COLUMN sso_subject TEXT;
ALTER TABLE users ADD COLUMN sso_signed_in_at INTEGER;
CREATE UNIQUE INDEX users_sso_identity ON users (sso_issuer, sso_subject);
CREATE TABLE pending_sso_sign_ins (
  state TEXT PRIMARY KEY,
  pending TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX pending_sso_sign_ins_expiry ON pending_sso_sign_ins (expires_at);
`;
