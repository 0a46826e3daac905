import {
  ConfidentialityRequiredError, InappropriateAuthError, InsufficientAccessError, InvalidCredentialsError, InvalidDNSyntaxError,
  NoSuchObjectError, ResultCodeError, SizeLimitExceededError, AdminLimitExceededError, StrongAuthRequiredError, TLSNotSupportedError,
} from 'ldapts';
import { describeError } from '../../shared/errors';

/*
 * Why reading the directory failed, sorted into what an administrator does about it. Messages name the
 * server, the bind DN, the base DN and the filter (settings, not secrets); never the bind password, which no
 * error from the client library carries either (it is only ever handed to bind()).
 */
export const LDAP_DIRECTORY_ERROR_CODES = [
  /** Nothing answered at the URL's host and port (refused, no route, unknown host). */
  'LDAP_UNREACHABLE',
  /** The TLS handshake failed: certificate not trusted, wrong name, expired, or the server refused StartTLS. */
  'LDAP_TLS_FAILED',
  /** The server refused the bind: wrong password, a disabled or locked service account, or it wants TLS first. */
  'LDAP_BIND_REFUSED',
  /** The base DN does not exist (or the service account may not see it), or is not a DN. */
  'LDAP_BAD_BASE_DN',
  /** The filter is not an RFC 4515 filter. */
  'LDAP_BAD_FILTER',
  /** Connecting, binding or one page took longer than timeoutMs. */
  'LDAP_TIMEOUT',
  /** The bind password file cannot be read or is empty. */
  'LDAP_BIND_PASSWORD_FILE',
  /** The search itself failed (a limit, an access rule, anything else the server said). Nothing read is used. */
  'LDAP_SEARCH_FAILED',
] as const;
export type LdapDirectoryErrorCode = (typeof LDAP_DIRECTORY_ERROR_CODES)[number];

export class LdapDirectoryError extends Error {
  readonly code: LdapDirectoryErrorCode;

  constructor(code: LdapDirectoryErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LdapDirectoryError';
    this.code = code;
  }
}

/** The step a failure happened in: the same library error means different things in each. */
export type LdapStep = 'starttls' | 'bind' | 'search';

export interface LdapFailureContext {
  readonly url: string;
  readonly bindDn: string;
  readonly baseDn: string;
  readonly timeoutMs: number;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ECONNRESET', 'EPIPE']);
const TLS_CODE = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME|ALTNAME/;

/** Sorts whatever the client library threw in `step` into an LdapDirectoryError. */
export function ldapFailure(error: unknown, step: LdapStep, c: LdapFailureContext): LdapDirectoryError {
  if (error instanceof LdapDirectoryError) return error;
  const fail = (code: LdapDirectoryErrorCode, message: string) => new LdapDirectoryError(code, message, { cause: error });
  const nodeCode = typeof (error as { code?: unknown } | null)?.code === 'string' ? (error as { code: string }).code : '';
  const message = error instanceof Error ? error.message : '';
  const said = error instanceof ResultCodeError ? serverSaid(error) : '';

  if (/Connection timeout|Operation timed out/.test(message) || nodeCode === 'ETIMEDOUT') {
    return fail('LDAP_TIMEOUT', `the LDAP server ${c.url} did not answer the ${STEP_NAMES[step]} within ${c.timeoutMs} ms; check that it is up and not overloaded, or raise timeoutMs`);
  }
  if (/before secure TLS connection was established/.test(message)) {
    return fail('LDAP_TLS_FAILED', `the LDAP server ${c.url} closed the connection during the TLS handshake: it may not speak TLS on that port (ldaps:// is usually 636, ldap:// 389)`);
  }
  if (UNREACHABLE.has(nodeCode)) {
    return fail('LDAP_UNREACHABLE', `the LDAP server ${c.url} cannot be reached (${nodeCode}); check the url, that the server runs, and that the firewall lets the relay through`);
  }
  if (error instanceof TLSNotSupportedError || (step === 'starttls' && error instanceof ResultCodeError)) {
    return fail('LDAP_TLS_FAILED', `the LDAP server ${c.url} refused StartTLS${said}; it may have no certificate configured (or use ldaps://)`);
  }
  if (TLS_CODE.test(nodeCode)) {
    return fail('LDAP_TLS_FAILED', `TLS with the LDAP server ${c.url} failed: ${nodeCode ? `${nodeCode}: ` : ''}${firstLine(message) || 'handshake refused'}; check caFile holds the CA that issued the server's certificate and that the certificate names the host in the url`);
  }
  if (step === 'bind') {
    if (error instanceof InvalidCredentialsError || error instanceof InappropriateAuthError) {
      return fail('LDAP_BIND_REFUSED', `the LDAP server ${c.url} refused the bind as ${c.bindDn}: wrong password in the bind password file, or the service account is disabled, locked or expired${said}`);
    }
    if (error instanceof StrongAuthRequiredError || error instanceof ConfidentialityRequiredError) {
      return fail('LDAP_BIND_REFUSED', `the LDAP server ${c.url} refused a bind without TLS${said}; use ldaps:// or startTls`);
    }
    if (error instanceof InvalidDNSyntaxError) return fail('LDAP_BIND_REFUSED', `the bind DN ${c.bindDn} is not a DN the server accepts${said}`);
  }
  if (step === 'search') {
    if (error instanceof NoSuchObjectError) {
      return fail('LDAP_BAD_BASE_DN', `the base DN ${c.baseDn} does not exist on ${c.url}, or ${c.bindDn} may not read it${said}`);
    }
    if (error instanceof InvalidDNSyntaxError) return fail('LDAP_BAD_BASE_DN', `the base DN ${c.baseDn} is not a DN${said}`);
    if (error instanceof SizeLimitExceededError || error instanceof AdminLimitExceededError) {
      return fail('LDAP_SEARCH_FAILED', `the LDAP server ${c.url} stopped the search at a limit${said}; it must let ${c.bindDn} read every page of a paged search (OpenLDAP: limits size.prtotal=unlimited), or nobody past the limit can be kept in step`);
    }
    if (error instanceof InsufficientAccessError) return fail('LDAP_SEARCH_FAILED', `${c.bindDn} may not search ${c.baseDn} on ${c.url}${said}`);
  }
  if (/^Connection closed|^Socket error/.test(message)) {
    return fail('LDAP_UNREACHABLE', `the LDAP server ${c.url} closed the connection during the ${STEP_NAMES[step]}: ${firstLine(message)}`);
  }
  return fail(step === 'bind' ? 'LDAP_BIND_REFUSED' : step === 'starttls' ? 'LDAP_TLS_FAILED' : 'LDAP_SEARCH_FAILED', `the ${STEP_NAMES[step]} on ${c.url} failed: ${said ? said.slice(2, -1) : describeError(error)}`);
}

const STEP_NAMES: Record<LdapStep, string> = { starttls: 'StartTLS request', bind: 'bind', search: 'search' };

/** ` (LDAP result 49)`, with the server's diagnostic text when it gave one. */
function serverSaid(error: ResultCodeError): string {
  const diagnostic = firstLine(error.message).replace(/\s*Code: 0x[0-9a-f]+$/i, '');
  return ` (LDAP result ${error.code}${diagnostic ? `: ${diagnostic}` : ''})`;
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').trim();
}
