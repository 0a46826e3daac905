import { OidcSignInError } from './OidcSignInError';

/*
 * Where the provider may send the user's browser back with a code. The desktop app listens on a loopback
 * port of its own choosing (RFC 8252 section 7.3: http, a loopback IP literal, any port, a path); the harness
 * page on one of the configured URIs. Anything else could hand the code to someone else, so it is refused
 * before the user is sent anywhere.
 */

const MAX_URI = 2048;
/** An IP literal, as RFC 8252 section 8.3 recommends (a `localhost` name could be resolved elsewhere). */
const LOOPBACK_LITERALS = new Set(['127.0.0.1', '[::1]']);
/** A path of unreserved and sub-delim characters (no %, no dot segments). */
const PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;

/** True for http://127.0.0.1:PORT/path or http://[::1]:PORT/path, written exactly as the browser will send it. */
export function isLoopbackRedirectUri(text: string): boolean {
  if (text.length > MAX_URI) return false;
  const url = URL.parse(text);
  if (!url || url.protocol !== 'http:' || !LOOPBACK_LITERALS.has(url.hostname)) return false;
  if (url.username || url.password || url.search || url.hash || !url.port) return false;
  if (!PATH.test(url.pathname) || /(^|\/)\.\.?(\/|$)/.test(url.pathname)) return false;
  // Normalised already: what the app registered as its listener is what comes back (no default-port or case games).
  return url.href === text;
}

/** The redirect URI if the relay may use it (loopback, or one of `harnessRedirectUris`); otherwise a clear refusal. */
export function checkRedirectUri(text: unknown, harnessRedirectUris: readonly string[]): string {
  if (typeof text === 'string' && (isLoopbackRedirectUri(text) || harnessRedirectUris.includes(text))) return text;
  const shown = typeof text === 'string' ? JSON.stringify(text.slice(0, 100)) : typeof text;
  throw new OidcSignInError(
    'OIDC_REDIRECT_URI_REFUSED',
    `redirect URI ${shown} refused: the app's must be http://127.0.0.1:PORT/PATH or http://[::1]:PORT/PATH (RFC 8252 loopback), the harness's one of the configured harnessRedirectUris`,
  );
}
