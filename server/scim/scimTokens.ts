/*
 * SCIM bearer tokens: what an identity provider (Entra ID, Okta) sends in `Authorization: Bearer`. A token is
 * 256 random bits, shown once when made; the relay keeps only its SHA-256 (a long random secret needs no
 * slow hash) and compares hashes. Secrets: never logged; audit records name the token's name only.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { sha256Hex } from '../auth/secrets';

/** What a token is called in the audit log (`scim:<name>`) and on the command line: e.g. entra-prod. */
export const ScimTokenNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, dot, dash or underscore, at most 64, starting with a letter or digit');

/** A new token, `rscim_` and 43 base64url characters. */
export function newScimToken(): string {
  return `rscim_${randomBytes(32).toString('base64url')}`;
}

/** What the store keeps of a token (and looks it up by). */
export function scimTokenHash(token: string): string {
  return sha256Hex(`scim-token:${token}`);
}
