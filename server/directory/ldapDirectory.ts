import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Client, FilterParser, type Entry, type Filter } from 'ldapts';
import { readSecretLine } from '../secretFile';
import type { DirectoryPerson } from './DirectoryPerson';
import type { LdapDirectoryConfig } from './ldapConfig';
import { LdapDirectoryError, ldapFailure, type LdapFailureContext, type LdapStep } from './LdapDirectoryError';
import { binaryAttributes, peopleFromEntries, personFromEntry, requestedAttributes, textValues, type SkippedLdapEntry } from './ldapPersonMapping';

/*
 * Reads everyone the configured filter selects from an LDAP directory or Active Directory, as DirectoryPersons.
 *
 * All or nothing: the search is paged (RFC 2696) so the server's size limit (AD's MaxPageSize, OpenLDAP's
 * sizelimit) does not cut the list short, and any failure part-way throws instead of returning what was read.
 * A short list would look like people leaving the filter, and the sync deactivates those.
 *
 * Secrets: the bind password is read from its file here and handed to bind() only; it is in no message, log
 * line or error (LdapDirectoryError names the server, the bind DN and the base DN).
 */

export interface LdapDirectoryRead {
  /** Everyone the filter matched who maps to a person (active or disabled), in the server's order. */
  readonly people: readonly DirectoryPerson[];
  /** Entries the filter matched that are not read as a person (no username, no stable id, a duplicate), with why. */
  readonly skipped: readonly SkippedLdapEntry[];
  /** With `roleGroups` configured: each person's group DNs (config.groupAttribute), by externalId. */
  readonly groups?: ReadonlyMap<string, readonly string[]>;
}

/** Binds as the service account and reads every page of the search; throws LdapDirectoryError. */
export async function readLdapDirectory(config: LdapDirectoryConfig): Promise<LdapDirectoryRead> {
  const context: LdapFailureContext = { url: config.url, bindDn: config.bindDn, baseDn: config.baseDn, timeoutMs: config.timeoutMs };
  const filter = parseFilter(config.filter);
  const password = readBindPassword(config.bindPasswordFile);
  const tlsOptions = tlsOptionsFor(config);
  const client = new Client({ url: config.url, timeout: config.timeoutMs, connectTimeout: config.timeoutMs, ...(config.url.startsWith('ldaps:') ? { tlsOptions } : {}) });
  const step = async <T>(name: LdapStep, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw ldapFailure(error, name, context);
    }
  };
  try {
    // ldapts times the StartTLS request but not the handshake after it: a server silent there must not hang the sync.
    if (config.startTls) await step('starttls', () => withinTimeout(client.startTLS(tlsOptions), config.timeoutMs));
    await step('bind', () => client.bind(config.bindDn, password));
    const entries = await step('search', () => searchAllPages(client, config, filter));
    const read = peopleFromEntries(entries, config.attributes, config.disabledWhen);
    if (Object.keys(config.roleGroups).length === 0) return read;
    const groups = new Map<string, string[]>();
    for (const entry of entries) {
      const person = personFromEntry(entry, config.attributes, config.disabledWhen);
      if ('externalId' in person) groups.set(person.externalId, textValues(entry, config.groupAttribute));
    }
    return { ...read, groups };
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

async function searchAllPages(client: Client, config: LdapDirectoryConfig, filter: Filter): Promise<Entry[]> {
  const entries: Entry[] = [];
  const pages = client.searchPaginated(config.baseDn, {
    scope: config.scope,
    filter,
    derefAliases: 'never',
    attributes: [...requestedAttributes(config.attributes, config.disabledWhen), ...(Object.keys(config.roleGroups).length > 0 ? [config.groupAttribute] : [])],
    explicitBufferAttributes: binaryAttributes(config.attributes),
    paged: { pageSize: config.pageSize },
  });
  // Search references (AD's referrals to other domains) are not followed: the base DN names the one domain read.
  for await (const page of pages) entries.push(...page.searchEntries);
  return entries;
}

/** `work`, or an error the failure sorting reads as a timeout if it takes longer than `ms`. */
function withinTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('StartTLS: Operation timed out')), ms);
    work.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

function parseFilter(filter: string): Filter {
  try {
    return FilterParser.parseString(filter);
  } catch (error) {
    throw new LdapDirectoryError('LDAP_BAD_FILTER', `the filter ${filter} is not an LDAP filter (RFC 4515): ${error instanceof Error ? error.message : 'unreadable'}`, { cause: error });
  }
}

/** The first line of the bind password file. An empty password would be an anonymous bind (RFC 4513 5.1.2): refused. */
function readBindPassword(file: string): string {
  try {
    return readSecretLine(file, 'LDAP bind password');
  } catch (error) {
    throw new LdapDirectoryError('LDAP_BIND_PASSWORD_FILE', (error as Error).message, { cause: error });
  }
}

/** TLS for ldaps:// and StartTLS: the CA file's authorities only when one is given, the server's name checked. */
function tlsOptionsFor(config: LdapDirectoryConfig): ConnectionOptions {
  const host = new URL(config.url).hostname.replace(/^\[|\]$/g, '');
  let ca: Buffer | undefined;
  if (config.caFile !== undefined) {
    try {
      ca = readFileSync(config.caFile);
    } catch (error) {
      throw new LdapDirectoryError('LDAP_TLS_FAILED', `cannot read the LDAP CA file ${config.caFile} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`, { cause: error });
    }
  }
  return { host, ...(isIP(host) ? {} : { servername: host }), minVersion: 'TLSv1.2', ...(ca ? { ca } : {}) };
}
