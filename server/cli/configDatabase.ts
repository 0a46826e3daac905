import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { ConfigurationError } from '../ConfigurationError';

/*
 * Where the relays share a PostgreSQL database, its URL and password file sit in the relay config file's
 * `database` section. Every command that opens the site's database takes `--config` too, so an administrator
 * names the file the relays run with instead of repeating --database on each admin command. --database (or
 * ROUNDS_DATABASE_URL) still wins over the file; --database-password-file over the file's passwordFile.
 */

const configFileOption = () => new Option('--config <file>', "the relay config file (JSON): its database section names the site's PostgreSQL database when --database does not");

interface DatabaseChoice { config?: string; database?: string; databasePasswordFile?: string }

/** Gives each command with --database a --config, and, before it runs, fills --database from that file's `database` section. */
export function offerDatabaseFromConfigFile(program: Command): void {
  const hasOption = (command: Command, flag: string) => command.options.some((option) => option.long === flag);
  const visit = (command: Command) => {
    if (hasOption(command, '--database') && !hasOption(command, '--config')) command.addOption(configFileOption());
    command.commands.forEach(visit);
  };
  program.commands.forEach(visit);
  program.hook('preAction', async (_program, action) => {
    if (!hasOption(action, '--database')) return;
    const opts = action.opts<DatabaseChoice>();
    if (opts.config === undefined || opts.database !== undefined) return;
    // The config file's schemas (SIEM, LDAP, OIDC sections) are loaded only by a command given --config.
    const { readRelayConfigFile } = await import('../relayConfigFile');
    const database = (await readRelayConfigFile(resolve(opts.config))).database;
    if (!database) return;
    action.setOptionValueWithSource('database', database.url, 'config');
    if (database.passwordFile !== undefined && opts.databasePasswordFile === undefined) action.setOptionValueWithSource('databasePasswordFile', database.passwordFile, 'config');
  });
}

/** For a command whose --database is required (migrate): given on the line, by ROUNDS_DATABASE_URL, or by --config. */
export function requireDatabase(opts: DatabaseChoice): string {
  if (opts.database === undefined) throw new ConfigurationError("--database is required: the site's PostgreSQL database (or ROUNDS_DATABASE_URL, or --config with a database section)");
  return opts.database;
}
