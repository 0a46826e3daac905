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

const DAY_MS = 24 * 3600_000;
/** A new token's lifetime unless the admin says otherwise (`scim token create --expires-in`). */
export const SCIM_TOKEN_DEFAULT_DAYS = 365;
/**
 * The longest a token may live. There is no "never": a token pasted into a provider's console outlives the
 * people who remember it, and one that leaks must stop working by itself some day. Entra ID and Okta both
 * let the secret token be replaced in place, so a yearly (at most two-yearly) rotation costs a minute.
 */
export const SCIM_TOKEN_MAX_DAYS = 730;
/** The relay warns (log line, metric) this long before a token expires. */
export const SCIM_TOKEN_WARN_DAYS = 30;

/** `--expires-in`: whole days, written `90` or `90d`; RangeError with a sentence that says what is accepted. */
export function parseScimTokenLifetimeDays(text: string): number {
  if (/^\s*(never|none|0d?|infinite|forever)\s*$/i.test(text)) {
    throw new RangeError(`SCIM tokens always expire (at most ${SCIM_TOKEN_MAX_DAYS} days): replace the token in the identity provider before it does`);
  }
  const match = /^\s*(\d{1,4})\s*d?\s*$/i.exec(text);
  if (!match) throw new RangeError(`give the lifetime in days, e.g. 365 or 365d (1 to ${SCIM_TOKEN_MAX_DAYS})`);
  const days = Number(match[1]);
  if (days < 1 || days > SCIM_TOKEN_MAX_DAYS) throw new RangeError(`a SCIM token lives 1 to ${SCIM_TOKEN_MAX_DAYS} days, not ${days}`);
  return days;
}

export const scimTokenExpiry = (createdAt: number, days: number): number => createdAt + days * DAY_MS;

/** The unrevoked tokens that expire within SCIM_TOKEN_WARN_DAYS of `now` (already expired ones included), soonest first. */
export function scimTokensNearExpiry<T extends { readonly revokedAt: number | null; readonly expiresAt: number }>(tokens: readonly T[], now: number): T[] {
  // Expired more than SCIM_TOKEN_WARN_DAYS ago: said enough (it is refused at every use, and audited then).
  return tokens.filter((t) => t.revokedAt === null && Math.abs(t.expiresAt - now) <= SCIM_TOKEN_WARN_DAYS * DAY_MS).sort((a, b) => a.expiresAt - b.expiresAt);
}

/** One line for the relay's log and the admin's list: the token's name and when it expires or expired (no secret). */
export function describeScimTokenExpiry(token: { readonly name: string; readonly expiresAt: number }, now: number): string {
  const days = Math.floor((token.expiresAt - now) / DAY_MS);
  const when = new Date(token.expiresAt).toISOString();
  if (token.expiresAt <= now) return `SCIM token ${token.name} expired at ${when}: provisioning with it is refused; make a new one (rounds-server scim token create) and paste it into the identity provider`;
  return `SCIM token ${token.name} expires at ${when} (in ${days} days): make a new one (rounds-server scim token create) and replace it in the identity provider before then`;
}

/** The relay's warnings about tokens near expiry: each token's at most once a day per process (housekeeping runs hourly). */
export class ScimTokenExpiryWarnings {
  readonly #lastWarned = new Map<string, number>();

  /** The lines to log now for these tokens (see describeScimTokenExpiry). */
  due(tokens: readonly { readonly name: string; readonly revokedAt: number | null; readonly expiresAt: number }[], now: number): string[] {
    return scimTokensNearExpiry(tokens, now).filter((t) => {
      const last = this.#lastWarned.get(t.name);
      if (last !== undefined && now - last < DAY_MS) return false;
      this.#lastWarned.set(t.name, now);
      return true;
    }).map((t) => describeScimTokenExpiry(t, now));
  }
}
