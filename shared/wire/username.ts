import { z } from 'zod';

/*
 * Sign-in names. Either a short name (`asmith`, as typed into `rounds-server user add` since the start) or the
 * hospital directory's e-mail-style user principal name (`j.smith@hospital.example`), which is what Entra ID,
 * Okta and Active Directory hand to SCIM, LDAP and OpenID Connect. Names are compared lower-cased: the schema
 * trims and lower-cases before it checks, so `J.Smith@Hospital.example` typed anywhere is the same person.
 * They name people, never patients.
 */

const SHORT_NAME = /^[a-z0-9][a-z0-9._-]{1,63}$/;
/** The local part of a UPN: lower-case letters, digits and . _ - ' + (no leading, trailing or doubled dot). */
const UPN_LOCAL = /^[a-z0-9_'+-]+(?:\.[a-z0-9_'+-]+)*$/;
/** A DNS name of two labels or more, each 1 to 63 letters, digits or inner hyphens. */
const DOMAIN = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The longest sign-in name (an e-mail address's limit, RFC 5321). */
export const MAX_USERNAME_LENGTH = 254;

/** Whether `name` (already lower-cased) is a sign-in name: a short name, or `local@domain`. */
export function isUsername(name: string): boolean {
  if (name.length > MAX_USERNAME_LENGTH) return false;
  const at = name.indexOf('@');
  if (at < 0) return SHORT_NAME.test(name);
  const local = name.slice(0, at);
  const domain = name.slice(at + 1);
  return local.length <= 64 && domain.length <= 253 && UPN_LOCAL.test(local) && DOMAIN.test(domain);
}

/**
 * A sign-in name as a source gives it, lower-cased, or null when it is not plain ASCII: JavaScript's
 * toLowerCase() folds some other letters onto ASCII ones (U+212A KELVIN SIGN to "k"), so "\u212Aate" would
 * otherwise become kate's username. Every source (SCIM, LDAP, OpenID Connect, the forms) folds through this.
 */
export function foldUsername(text: string): string | null {
  const trimmed = text.trim();
  return /^[\x20-\x7e]*$/.test(trimmed) ? trimmed.toLowerCase() : null;
}

// ASCII is checked before lower-casing (see foldUsername).
export const UsernameSchema = z.string().trim().regex(/^[\x20-\x7e]*$/, 'usernames are plain ASCII').toLowerCase().max(MAX_USERNAME_LENGTH).refine(isUsername, {
  message: 'a short name of 2 to 64 lower-case letters, digits, ".", "_" or "-", or an e-mail-style name such as j.smith@hospital.example',
});
