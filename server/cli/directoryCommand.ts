import type { Command } from 'commander';
import { resolve } from 'node:path';
import { systemClock } from '../Clock';
import { ConfigurationError } from '../ConfigurationError';
import { dataOption, databasePasswordFileOption, keyFileOption, siteDatabaseOption, type DataOptions } from '../cliOptions';

/**
 * `rounds-server directory sync --config FILE --data DIR`: one LDAP / Active Directory sync now, with the
 * relay's own config file (its `directory.ldap` section, and its `database` section when the relays share
 * PostgreSQL), while the relay runs or not; prints the counts. server/directory/LdapSync.ts says what a run does.
 */
export function addDirectoryCommand(program: Command, admin: string): void {
  const directory = program.command('directory').description("accounts from the hospital's directory");
  directory.command('sync')
    .description('sync accounts from the LDAP / Active Directory of the config file now: create, update, and deactivate those who left the filter')
    .requiredOption('--config <file>', 'the relay config file (JSON) with the directory.ldap section')
    .addOption(dataOption())
    .addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption())
    .option('--allow-mass-deactivation', 'let this run deactivate more than directory.ldap.maxDeactivationPercent of the accounts from the directory (after checking that they have left)')
    .action(async (opts: DataOptions & { config: string; allowMassDeactivation?: boolean }) => {
      // The directory client (ldapts) and the store are loaded when the command runs, not by every command's start.
      const [{ readRelayConfigFile }, { openConfiguredStore }, { DirectorySyncRefused, describeSyncCounts, syncFromLdap }, { LdapDirectoryError }] = await Promise.all([
        import('../relayConfigFile'), import('./commandStore'), import('../directory/LdapSync'), import('../directory/LdapDirectoryError'),
      ]);
      const file = resolve(opts.config);
      const configFile = await readRelayConfigFile(file);
      const ldap = configFile.directory?.ldap;
      if (!ldap) throw new ConfigurationError(`${file} has no directory.ldap section: nothing to sync from (docs/deployment.md, "Active Directory / LDAP")`);
      const store = await openConfiguredStore(opts, false, configFile.database);
      try {
        const result = await syncFromLdap(store, ldap, { clock: systemClock, requestedBy: admin, allowMassDeactivation: opts.allowMassDeactivation === true });
        console.log(`directory sync ${result.runId}: ${describeSyncCounts(result.counts)}`);
        for (const { username, reason } of result.refusals) console.error(`refused ${username}: ${reason}`);
        for (const { dn, reason } of result.skipped) console.error(`skipped ${dn}: ${reason}`);
        for (const c of result.roles.changed) console.log(`role ${c.role}: ${c.added} standing holders added, ${c.ended} ended`);
        for (const name of result.roles.missingRoles) console.error(`directory.ldap.roleGroups names the role ${name}, which does not exist (rounds-server role create)`);
        for (const t of result.roles.tooManyMembers) console.error(`role ${t.role}: its groups have ${t.members} members, more than a message to a role reaches; nobody new was added (those who left the groups no longer hold it)`);
      } catch (error) {
        // The directory's own errors and the safety rules' are the administrator's to act on: their code and words.
        if (error instanceof DirectorySyncRefused || error instanceof LdapDirectoryError) throw new ConfigurationError(`${error.code}: ${error.message}`, { cause: error });
        throw error;
      } finally {
        await store.close();
      }
    });
}
