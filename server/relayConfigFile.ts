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

/** SCIM provisioning (issue 18): `roleGroups`, the groups whose members hold on-call roles (directoryRoleHolders.ts). */
const ScimSchema = z.strictObject({
  roleGroups: RoleGroupMapSchema.default({}),
});

/** The file's schema, with `ldap` the `directory` section's LDAP schema (issue 18: where the relay's accounts come from). */
function relayConfigFileSchema(ldap: z.ZodType<LdapSyncConfig>) {
  return z.strictObject({
    siem: SiemConfigSchema.optional(),
    admission: AdmissionSchema.optional(),
    database: DatabaseSchema.optional(),
    directory: z.strictObject({ ldap: ldap.optional() }).optional(),
    oidc: OidcConfigSchema.optional(),
    scim: ScimSchema.optional(),
  });
}
export type RelayConfigFile = z.infer<ReturnType<typeof relayConfigFileSchema>>;

/**
 * The schema for a file without an LDAP section, and (made when first needed) the one for a file with one: the
 * LDAP schema checks filters with ldapts' parser, and a relay without LDAP need not hold ldapts (~1.5 MiB of heap).
 */
const withoutLdap = relayConfigFileSchema(z.never());
let withLdap: Promise<{ schema: ReturnType<typeof relayConfigFileSchema>; pathKeys: readonly string[] }> | undefined;

function schemaWithLdap(): NonNullable<typeof withLdap> {
  return (withLdap ??= Promise.all([import('./directory/ldapSyncConfig'), import('./directory/ldapConfig')]).then(([{ LdapSyncConfigSchema }, { LDAP_CONFIG_PATH_KEYS }]) => ({
    schema: relayConfigFileSchema(LdapSyncConfigSchema), pathKeys: LDAP_CONFIG_PATH_KEYS,
  })));
}

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
  // An `ldap` key of any value (null too) is checked by the LDAP schema, which names what is wrong with it.
  const directory = (json as { directory?: unknown } | null)?.directory;
  const hasLdap = typeof directory === 'object' && directory !== null && 'ldap' in directory;
  const { schema, pathKeys: ldapPathKeys } = hasLdap ? await schemaWithLdap() : { schema: withoutLdap, pathKeys: [] };
  const parsed = schema.safeParse(json);
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
