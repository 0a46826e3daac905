import { FilterParser } from 'ldapts';
import { z } from 'zod';
import { RoleGroupMapSchema } from '../roles/directoryRoleHolders';

/*
 * The LDAP / Active Directory section of the relay config file: where the relay reads the hospital's people
 * from (ldapDirectory.ts). The bind password is never in the config, only the path of a file holding it, so
 * the config can be shown, diffed and backed up without the secret. Paths are resolved against the config
 * file's folder by whoever reads the file (LDAP_CONFIG_PATH_KEYS).
 */

const path = z.string().min(1, 'a file path is needed');

/** An LDAP attribute description as a server knows it (`userPrincipalName`, `mS-DS-ConsistencyGuid`). */
const attributeName = z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,63}$/, 'an LDAP attribute name (a letter, then letters, digits or hyphens)');

/** The attributes one field is read from, in order: the first an entry has wins. One name may stand alone. */
const attributeList = z.union([
  attributeName.transform((name) => [name]),
  z.array(attributeName).min(1, 'at least one attribute').max(8),
]);

/**
 * Where each field of a DirectoryPerson comes from. The defaults suit Active Directory; OpenLDAP sites set
 * `username` to `uid` or `mail` (`externalId` works on both: AD has objectGUID, OpenLDAP entryUUID).
 */
export const LdapAttributeMapSchema = z.strictObject({
  /** The source's stable id. objectGUID (and mS-DS-ConsistencyGuid) are binary: rendered as the canonical GUID string. */
  externalId: attributeList.default(['objectGUID', 'entryUUID']),
  /** Lower-cased. Add `mail` or `uid` after userPrincipalName for accounts without one. */
  username: attributeList.default(['userPrincipalName']),
  displayName: attributeList.default(['displayName', 'cn']),
  department: attributeList.default(['department']),
  jobTitle: attributeList.default(['title']),
  contact: attributeList.default(['telephoneNumber', 'pager']),
});
export type LdapAttributeMap = z.infer<typeof LdapAttributeMapSchema>;

/** AD's userAccountControl flag ACCOUNTDISABLE (0x2). */
export const AD_ACCOUNT_DISABLED = 2;

/**
 * When an entry that matches the filter is still someone who has left: AD keeps disabled accounts in place
 * (`{ "attribute": "userAccountControl", "anyBitSet": 2 }`, the default); other directories mark them with a
 * value (`{ "attribute": "employeeType", "equals": ["left"] }`, compared without regard to case). An entry
 * without the attribute is active. `null`: no entry is disabled by an attribute (leaving the filter still is).
 */
export const LdapDisabledRuleSchema = z.union([
  z.strictObject({ attribute: attributeName, anyBitSet: z.int().min(1).max(0xffff_ffff) }),
  z.strictObject({ attribute: attributeName, equals: z.array(z.string().min(1)).min(1).max(16) }),
]);
export type LdapDisabledRule = z.infer<typeof LdapDisabledRuleSchema>;

/** Why `filter` is not an RFC 4515 filter, or null when it is one (the same parser the reader sends it with). */
export function ldapFilterProblem(filter: string): string | null {
  try {
    FilterParser.parseString(filter);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : 'unreadable';
  }
}

function urlProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'ldap:' && url.protocol !== 'ldaps:') return 'use ldap:// or ldaps://';
  if (!url.hostname) return 'a host name is needed';
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash || url.username || url.password) return 'only scheme, host and port (the base DN and filter are settings of their own)';
  return null;
}

export const LdapDirectoryConfigSchema = z.strictObject({
  /** `ldaps://dc1.hospital.example` (TLS from the start, port 636) or `ldap://…` with `startTls`. */
  url: z.string().superRefine((value, ctx) => {
    const problem = urlProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `url ${JSON.stringify(value)}: ${problem}` });
  }),
  /** Upgrade an ldap:// connection with StartTLS (RFC 4513) before binding. */
  startTls: z.boolean().default(false),
  /** PEM file of the certificate authorities the server's certificate must chain to (without it: the system's). */
  caFile: path.optional(),
  /**
   * Bind with the password in the clear over ldap:// without StartTLS. Anyone on the path reads the service
   * account's password and every person's record, so it has to be asked for by name (a lab, a loopback tunnel).
   */
  allowUnencrypted: z.boolean().default(false),
  /** The read-only service account the relay binds as (a DN, or on AD also `svc-rounds@hospital.example`). */
  bindDn: z.string().min(1),
  /** A file whose first line is the bind password; read at each sync, so replacing the file rotates it. */
  bindPasswordFile: path,
  /** Where people are searched from (`OU=Staff,DC=hospital,DC=example`). */
  baseDn: z.string().min(1),
  /** Who gets an account: an RFC 4515 filter, e.g. members of one group. Whoever stops matching it is deactivated. */
  filter: z.string().min(1).superRefine((value, ctx) => {
    const problem = ldapFilterProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `filter is not an LDAP filter (RFC 4515): ${problem}` });
  }),
  scope: z.enum(['sub', 'one']).default('sub'),
  /** Entries per page of the paged search (RFC 2696); AD's MaxPageSize is 1000 unless changed. */
  pageSize: z.int().min(1).max(10_000).default(500),
  /** How long connecting, binding and each page may take (ms). */
  timeoutMs: z.int().min(1000).max(600_000).default(30_000),
  attributes: LdapAttributeMapSchema.default(LdapAttributeMapSchema.parse({})),
  disabledWhen: LdapDisabledRuleSchema.nullable().default({ attribute: 'userAccountControl', anyBitSet: AD_ACCOUNT_DISABLED }),
  /**
   * Groups whose members hold on-call roles standing: a group's DN to a role's name (server/roles/
   * directoryRoleHolders.ts). A person's groups are read from `groupAttribute` on their own entry: AD's
   * `memberOf` (direct memberships; a nested group is not followed), OpenLDAP's with the memberof overlay.
   */
  roleGroups: RoleGroupMapSchema.default({}),
  groupAttribute: attributeName.default('memberOf'),
}).superRefine((c, ctx) => {
  const secure = c.url.startsWith('ldaps:');
  if (secure && c.startTls) ctx.addIssue({ code: 'custom', path: ['startTls'], message: 'startTls is for ldap:// URLs; ldaps:// is TLS from the start' });
  if (!secure && !c.startTls && c.caFile !== undefined) ctx.addIssue({ code: 'custom', path: ['caFile'], message: 'caFile is for TLS: use ldaps:// or set startTls' });
  if (!secure && !c.startTls && !c.allowUnencrypted) {
    ctx.addIssue({ code: 'custom', path: ['url'], message: 'ldap:// without startTls sends the bind password in the clear: use ldaps://, or set startTls, or (only on a trusted network) allowUnencrypted' });
  }
});
/** The section as written in the file (defaults may be left out). */
export type LdapDirectoryConfigInput = z.input<typeof LdapDirectoryConfigSchema>;
export type LdapDirectoryConfig = z.infer<typeof LdapDirectoryConfigSchema>;

/** Settings that are file paths, relative to the config file's folder when not absolute. */
export const LDAP_CONFIG_PATH_KEYS = ['caFile', 'bindPasswordFile'] as const;
