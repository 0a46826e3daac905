import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { describeError } from '../shared/errors';
import { JOURNALD_UNSUPPORTED, SiemConfigSchema } from './audit/siem/SiemConfig';
import { ConfigurationError } from './ConfigurationError';
import type { LdapSyncConfig } from './directory/ldapSyncConfig';
import { OidcConfigSchema } from './auth/oidc/OidcConfig';
import { RoleGroupMapSchema } from './roles/directoryRoleHolders';

/*
 * The relay config file (`rounds-server serve --config FILE`): JSON, for what does not fit a command-line
 * option: the `siem` section (where the audit log is streamed as it is appended) and the `admission` section
 * (how many connects the relay takes at once before it sheds them with Retry-After) and the `database` section
 * (the site's PostgreSQL database, for relays that share one: `url`, and `passwordFile` for its password), the
 * `directory` section (`ldap`: the LDAP / Active Directory the relay syncs accounts from, ldapSyncConfig.ts) and the
 * `oidc` section (sign-in with the hospital's identity provider: OidcConfig.ts; `clientSecretFile` beside the file),
 * and the `scim` section (`roleGroups`: SCIM groups whose members hold on-call roles, directoryRoleHolders.ts).
 */
/** Limits on connects at once (RelayConfig.admission): what a reconnect storm meets. Any left out keep their default. */
const AdmissionSchema = z.strictObject({
  maxConnecting: z.int().min(1).max(100_000).optional(),
  maxEventLoopLagMs: z.int().min(1).max(60_000).optional(),
  connectsPerSecond: z.int().min(1).max(1_000_000).optional(),
  maxRetryAfterSeconds: z.int().min(1).max(3600).optional(),
  listenBacklog: z.int().min(1).max(65_535).optional(),
});

/** The site's PostgreSQL database shared by several relays (the --database options): its URL, and the password's file. */
const DatabaseSchema = z.strictObject({
  url: z.string().min(1),
  passwordFile: z.string().min(1).optional(),
});

/**
 * The LDAP section's schema, loaded only for a file that has one (`loadLdapSchema`): it checks filters with
 * ldapts' parser, and a relay without LDAP need not hold ldapts (~1.5 MiB of heap) for its whole life.
 */
let ldapSection: { schema: z.ZodType<LdapSyncConfig>; pathKeys: readonly string[] } | undefined;

async function loadLdapSchema(): Promise<NonNullable<typeof ldapSection>> {
  const [{ LdapSyncConfigSchema }, { LDAP_CONFIG_PATH_KEYS }] = await Promise.all([import('./directory/ldapSyncConfig'), import('./directory/ldapConfig')]);
  return (ldapSection ??= { schema: LdapSyncConfigSchema, pathKeys: LDAP_CONFIG_PATH_KEYS });
}

/** Where the relay's accounts come from besides its command line (issue 18). */
const DirectorySchema = z.strictObject({
  // Read only once loadLdapSchema has run: readRelayConfigFile awaits it whenever the section is there.
  ldap: z.lazy(() => {
    if (!ldapSection) throw new Error('the LDAP section was checked before its schema was loaded');
    return ldapSection.schema;
  }).optional(),
});

/** SCIM provisioning (issue 18): `roleGroups`, the groups whose members hold on-call roles (directoryRoleHolders.ts). */
const ScimSchema = z.strictObject({
  roleGroups: RoleGroupMapSchema.default({}),
});

const RelayConfigFileSchema = z.strictObject({
  siem: SiemConfigSchema.optional(),
  admission: AdmissionSchema.optional(),
  database: DatabaseSchema.optional(),
  directory: DirectorySchema.optional(),
  oidc: OidcConfigSchema.optional(),
  scim: ScimSchema.optional(),
});
export type RelayConfigFile = z.infer<typeof RelayConfigFileSchema>;

const SIEM_PATH_KEYS = ['caFile', 'clientCertFile', 'clientKeyFile', 'file'] as const;

/** Reads and checks the config file; anything wrong is a ConfigurationError naming the file and the setting. */
export async function readRelayConfigFile(file: string): Promise<RelayConfigFile> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigurationError(`cannot read the config file ${file}: ${describeError(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigurationError(`the config file ${file} is not valid JSON: ${error instanceof Error ? error.message : 'unreadable'}`);
  }
  const sink = (json as { siem?: { sink?: unknown } } | null)?.siem?.sink;
  if (sink === 'journald') throw new ConfigurationError(`${file}: siem.sink: ${JOURNALD_UNSUPPORTED}`);
  const hasLdap = (json as { directory?: { ldap?: unknown } } | null)?.directory?.ldap !== undefined;
  const ldapPathKeys = hasLdap ? (await loadLdapSchema()).pathKeys : [];
  const parsed = RelayConfigFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'the file';
    throw new ConfigurationError(`the config file ${file} is not valid: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  const folder = dirname(resolve(file));
  const ldap = parsed.data.directory?.ldap;
  return {
    ...(parsed.data.siem ? { siem: withPathsFrom(folder, parsed.data.siem, SIEM_PATH_KEYS) } : {}),
    ...(parsed.data.admission ? { admission: parsed.data.admission } : {}),
    ...(parsed.data.database ? { database: { url: parsed.data.database.url, ...(parsed.data.database.passwordFile ? { passwordFile: resolve(folder, parsed.data.database.passwordFile) } : {}) } } : {}),
    ...(parsed.data.directory ? { directory: ldap ? { ldap: withPathsFrom(folder, ldap, ldapPathKeys) } : {} } : {}),
    ...(parsed.data.scim ? { scim: parsed.data.scim } : {}),
    ...(parsed.data.oidc ? { oidc: { ...parsed.data.oidc, ...(parsed.data.oidc.clientSecretFile ? { clientSecretFile: resolve(folder, parsed.data.oidc.clientSecretFile) } : {}) } } : {}),
  };
}

/** Relative paths in the file are relative to the file's own folder, not to wherever the relay was started. */
function withPathsFrom<T extends object>(base: string, section: T, keys: readonly string[]): T {
  const copy = { ...section } as Record<string, unknown>;
  for (const key of keys) {
    const value = copy[key];
    if (typeof value === 'string' && !isAbsolute(value)) copy[key] = resolve(base, value);
  }
  return copy as T;
}
