import { accessSync, constants } from 'node:fs';
import { z } from 'zod';
import { ConfigurationError } from '../ConfigurationError';
import { LdapDirectoryConfigSchema, type LdapDirectoryConfig } from './ldapConfig';

/*
 * The `directory.ldap` section of the relay config file: where the relay reads the hospital's people from
 * (ldapConfig.ts), and how the sync (LdapSync.ts) runs: how often the relay runs it, and how large a share of
 * the LDAP-provisioned accounts one run may deactivate before it stops and asks for an administrator.
 */

const LdapSyncSettingsSchema = z.strictObject({
  /**
   * How often the relay syncs (the first run shortly after it starts). Fractions are allowed down to 0.1 (six
   * seconds: for trying a filter out, and for the tests); every run reads the whole filter, so a site keeps minutes.
   */
  syncIntervalMinutes: z.number().min(0.1).max(24 * 60).default(15),
  /**
   * A run that would deactivate more than this share of the LDAP-provisioned accounts (and more than one)
   * stops before changing anything: `rounds-server directory sync --allow-mass-deactivation` lets it through.
   */
  maxDeactivationPercent: z.int().min(1).max(100).default(20),
});
export type LdapSyncSettings = z.infer<typeof LdapSyncSettingsSchema>;

const SYNC_KEYS = ['syncIntervalMinutes', 'maxDeactivationPercent'] as const;

/** The section: the LDAP settings and the sync's own, in one object as the file has them. */
export const LdapSyncConfigSchema = z.record(z.string(), z.unknown()).transform((section, ctx): LdapSyncConfig => {
  const directory = LdapDirectoryConfigSchema.safeParse(Object.fromEntries(Object.entries(section).filter(([key]) => !(SYNC_KEYS as readonly string[]).includes(key))));
  const settings = LdapSyncSettingsSchema.safeParse(Object.fromEntries(SYNC_KEYS.filter((key) => section[key] !== undefined).map((key) => [key, section[key]])));
  for (const issue of [...(directory.error?.issues ?? []), ...(settings.error?.issues ?? [])]) ctx.addIssue({ code: 'custom', message: issue.message, path: [...issue.path] });
  if (!directory.success || !settings.success) return z.NEVER;
  return { ...directory.data, ...settings.data };
});
export type LdapSyncConfig = LdapDirectoryConfig & LdapSyncSettings;

/**
 * For `serve`: the files the section names can be read now, or a ConfigurationError saying which cannot (the
 * relay reads them again at each sync, so a rotated password file is taken without a restart).
 */
export function assertLdapFilesReadable(config: LdapSyncConfig): void {
  for (const [setting, file] of [['bindPasswordFile', config.bindPasswordFile], ['caFile', config.caFile]] as const) {
    if (file === undefined) continue;
    try {
      accessSync(file, constants.R_OK);
    } catch (error) {
      throw new ConfigurationError(`directory.ldap.${setting}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`, { cause: error });
    }
  }
}
