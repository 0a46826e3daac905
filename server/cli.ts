import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { describeError } from '../shared/errors';
import { DeviceIdSchema } from '../shared/ids';
import { ROUNDS_VERSION } from '../shared/version';
import { DisplayNameSchema, RoleSchema, UsernameSchema, type Role } from '../shared/wire/relay';
import type { AccountService } from './AccountService';
import { readoutPlace, threadsOption, type ThreadChoice } from './audit/threadsOption';
import { newBackupIdentity, readIdentityFile, readPassphraseFile } from './backupEncryption';
import { adminActor } from './cli/adminActor';
import { addDirectoryCommand } from './cli/directoryCommand';
import { offerDatabaseFromConfigFile } from './cli/configDatabase';
import { addMigrateCommand } from './cli/migrateCommand';
import { addScimCommands } from './cli/scimTokenCommand';
import { addRoleCommands } from './cli/roleCommand';
import { addServeCommand } from './cli/serveCommand';
import { addUserUpdateCommand, contactOption, departmentOption, directoryFieldsOf, jobTitleOption } from './cli/userUpdateCommand';
import type { DirectoryFieldsPatch } from './directory/adminDirectory';
import { backupEncryption, dataOption, databasePasswordFileOption, date, keyFileOption, siteDatabaseOption, lastAnnouncedKey, repeatable, validated, withStore, type DataOptions } from './cliOptions';
import { writeDurably } from './durableFiles';
import { RelayFailure } from './RelayFailure';
import { ConfigurationError } from './ConfigurationError';

/*
 * `rounds-server`: runs the relay and administers its data directory. Admin commands work on the same
 * directory while the relay runs (revocations reach connected devices within a second).
 * This file is the command table: what a command needs beyond its options (the relay, the store, the audit
 * export, backup) it imports when it runs, so that each command starts with its own modules only.
 */

/** The audit log's modules, for the commands that read or sign it. */
const loadAudit = async () => ({
  ...(await import('./audit/auditKey')), ...(await import('./audit/exportAudit')), ...(await import('./audit/checkpointMemory')), ...(await import('./audit/exportEarlierLog')),
  ...(await import('./audit/auditDirectory')), ...(await import('./cli/auditTreeCheck')), ...(await import('./cli/currentAuditLog')),
});

/** `admin`: who the admin commands' audit records name (`admin:<os account>`), computed once per run. */
export function buildCli(admin: string = adminActor()): Command {
  const program = new Command('rounds-server')
    .description('Rounds relay: accounts, prekey directory and store-and-forward for end-to-end encrypted messages')
    .version(ROUNDS_VERSION)
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });

  addServeCommand(program);
  addMigrateCommand(program);

  const user = program.command('user').description('manage accounts');
  user.command('add')
    .description('create an account and print its one-time enrollment code')
    .addOption(dataOption())
    .addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption())
    .requiredOption('--username <name>', 'sign-in name: a short name or an e-mail-style one (j.smith@hospital.example), any case', validated(UsernameSchema, 'username'))
    .requiredOption('--display-name <name>', 'the name colleagues see', validated(DisplayNameSchema, 'display name'))
    .addOption(new Option('--role <role>', 'what the account may do').choices(RoleSchema.options).makeOptionMandatory())
    .addOption(departmentOption()).addOption(jobTitleOption()).addOption(contactOption())
    .action(async (opts: DataOptions & { username: string; displayName: string; role: Role } & DirectoryFieldsPatch) => withStore(admin, opts, async (_store, accounts) => {
      const { userId, enrollmentCode, expiresAt } = await accounts.addUser(opts.username, opts.displayName, opts.role, directoryFieldsOf(opts, ['department', 'jobTitle', 'contact']));
      console.log(`created ${opts.username} (${opts.role}), id ${userId}`);
      console.log(`enrollment code: ${enrollmentCode}`);
      console.log(`valid until ${new Date(expiresAt).toISOString()}; give it to ${opts.displayName} in person, it works once`);
    }));
  addUserUpdateCommand(user, admin);
  addDirectoryCommand(program, admin);
  user.command('list')
    .description('list accounts')
    .addOption(dataOption())
    .addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption())
    .action(async (opts: DataOptions) => withStore(admin, opts, async (store) => {
      const now = Date.now();
      for (const u of await store.listUsers()) {
        const locked = u.lockedUntil !== null && u.lockedUntil > now ? ' locked' : '';
        // Last, what the directory says (and which kind of source keeps it, when not this command line).
        const directory = [u.jobTitle, u.department, u.contact].filter(Boolean).join(' · ');
        console.log(`${u.username}\t${u.displayName}\t${u.role}\t${u.status}${locked}\tlast active ${new Date(u.lastActiveAt).toISOString()}\t${u.id}\t${directory || '-'}${u.source === 'admin' ? '' : ` (from ${u.source})`}`);
      }
    }));
  /** An admin command that does one thing to one account and says so. */
  const accountCommand = (name: string, description: string, act: (accounts: AccountService, username: string) => Promise<void>, done: string) =>
    user.command(name)
      .description(description)
      .addOption(dataOption())
      .addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption())
      .argument('<username>', 'the account', validated(UsernameSchema, 'username'))
      .action(async (username: string, opts: DataOptions) => withStore(admin, opts, async (_s, accounts) => {
        await act(accounts, username);
        console.log(`${done} ${username}`);
      }));
  accountCommand('deactivate', 'deactivate an account: its devices are disconnected at once and their queues deleted', (a, u) => a.deactivate(u), 'deactivated');
  accountCommand('unlock', 'lift a lockout after too many failed sign-ins', (a, u) => a.unlock(u), 'unlocked');
  accountCommand('reactivate', 'bring back a deactivated account (its old devices stay revoked)', (a, u) => a.reactivate(u), 'reactivated');
  accountCommand('sso-only', "end an account's password sign-in: its next sign-in with the identity provider links it", (a, u) => a.ssoOnly(u), 'now signs in with single sign-on only:');
  user.command('emergency')
    .description('issue a time-limited emergency sign-in (audited and flagged)')
    .addOption(dataOption())
    .addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption())
    .argument('<username>', 'the account', validated(UsernameSchema, 'username'))
    .requiredOption('--reason <text>', 'why emergency access is needed (recorded in the audit log)')
    .action(async (username: string, opts: DataOptions & { reason: string }) => withStore(admin, opts, async (_s, accounts) => {
      const { code, expiresAt } = await accounts.issueEmergency(username, opts.reason);
      console.log(`emergency code for ${username}: ${code}`);
      console.log(`valid once, until ${new Date(expiresAt).toISOString()}`);
    }));

  addScimCommands(program, admin);
  addRoleCommands(program, user, admin);

  const device = program.command('device').description('manage devices');
  device.command('list')
    .description("list an account's devices")
    .addOption(dataOption())
    .addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption())
    .argument('<username>', 'the account', validated(UsernameSchema, 'username'))
    .action(async (username: string, opts: DataOptions) => withStore(admin, opts, async (store, accounts) => {
      const u = await accounts.requireUser(username);
      for (const d of await store.devices(u.id)) {
        const state = d.revokedAt !== null ? `revoked ${new Date(d.revokedAt).toISOString()}` : d.expiresAt !== null ? `emergency until ${new Date(d.expiresAt).toISOString()}` : 'active';
        console.log(`${d.deviceId}\t${d.name}\t${state}\tlast seen ${new Date(d.lastSeenAt).toISOString()}`);
      }
    }));
  device.command('revoke')
    .description('revoke a device: disconnected at once, its queue deleted, its credential void')
    .addOption(dataOption())
    .addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption())
    .argument('<username>', 'the account', validated(UsernameSchema, 'username'))
    .argument('<device>', 'device number (see `device list`)', (value: string) => validated(DeviceIdSchema, 'device')(Number(value) as never))
    .action(async (username: string, deviceId: number, opts: DataOptions) => withStore(admin, opts, async (_s, accounts) => {
      await accounts.revokeDevice(username, DeviceIdSchema.parse(deviceId));
      console.log(`revoked device ${deviceId} of ${username}`);
    }));

  const backup = program.command('backup')
    .description('encrypted backups: `backup --data DIR --out FILE --recipient age1…` writes one (`backup create`), `backup keygen` makes the key pair to encrypt them to');
  backup.command('create', { isDefault: true })
    .description('write a consistent, encrypted backup of the relay (database, its key and the audit key) while it runs')
    .addOption(dataOption())
    .addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption())
    .requiredOption('--out <file>', 'the backup file (age-encrypted, 0600), e.g. relay-2026-12-01.age')
    .option('--recipient <age1…>', 'encrypt to this X25519 public key, from `rounds-server backup keygen` (repeatable: any one of their identities restores)', repeatable)
    .option('--passphrase-file <file>', 'encrypt to the passphrase on the first line of this file (- reads standard input) instead')
    .action(async (opts: DataOptions & { out: string; recipient?: string[]; passphraseFile?: string }) => {
      embeddedOnly(opts, 'backed up with pg_dump (or the site\'s own PostgreSQL backups)');
      // Checked before the database is opened: a backup is never written unencrypted.
      const encryption = backupEncryption(opts);
      const [{ backupRelay }, { unlockRelayDatabase }] = await Promise.all([import('./backup'), import('./DatabaseKeyFile')]);
      await withStore(admin, opts, async (store) => {
        // The database's key goes into the (encrypted) backup, so that it restores on a new machine.
        const { key: databaseKey } = unlockRelayDatabase(resolve(opts.data), opts.databaseKeyFile ? { keyFile: opts.databaseKeyFile } : {});
        const { auditRecords, chainOk, reason } = await backupRelay(store, resolve(opts.data), resolve(opts.out), { databaseKey, encryption });
        const to = encryption.kind === 'passphrase' ? 'a passphrase' : encryption.recipients.join(', ');
        console.log(`backed up to ${resolve(opts.out)}, encrypted to ${to} (audit log: ${auditRecords} records)`);
        if (!chainOk) {
          console.error(`the audit log does not check out (${reason ?? 'broken'}): the backup is kept as evidence, but restore will refuse it; run \`rounds-server audit check\``);
          process.exitCode = 2;
        }
      });
    });
  backup.command('keygen')
    .description('make a key pair for backups: the identity file (secret: it restores every backup made to it) and, printed, its public key for --recipient')
    .requiredOption('--out <file>', 'where to write the identity (0600; an existing file is never overwritten); keep it off the relay machine')
    .action(async (opts: { out: string }) => {
      const { recipient, identityFile } = await newBackupIdentity();
      const out = resolve(opts.out);
      try {
        writeDurably(out, identityFile, 0o600, 'wx');
      } catch (error) {
        throw new ConfigurationError((error as NodeJS.ErrnoException).code === 'EEXIST' ? `${out} exists; an identity is never overwritten (backups made to it would be lost)` : `cannot write ${out}: ${describeError(error)}`);
      }
      // The public key alone on standard output (for `> recipient.txt`); the rest on standard error.
      console.log(recipient);
      console.error(`wrote the backup identity to ${out}: keep it offline (the compliance officer's safe, the hospital's vault); without it no backup made to ${recipient} can be restored`);
    });
  program.command('restore')
    .description('restore a backup into a data directory (stop the relay first)')
    .addOption(dataOption())
    .addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption())
    .requiredOption('--from <file>', 'a file written by `rounds-server backup`')
    .option('--force', 'replace the database already in the data directory')
    .option('--new-key', 'start a new audit key instead of the backup\'s (if the key was rotated after this backup was taken)')
    .option('--other-relay', 'accept a backup this relay did not make (or one from before encryption) over a directory that holds accounts')
    .option('--identity <file>', 'the identity file of a backup encrypted to an X25519 recipient (- reads standard input); repeatable', repeatable)
    .option('--passphrase-file <file>', 'the passphrase of a backup encrypted to one, on the first line of this file (- reads standard input)')
    .action(async (opts: DataOptions & { from: string; force?: boolean; newKey?: boolean; otherRelay?: boolean; identity?: string[]; passphraseFile?: string }) => {
      embeddedOnly(opts, 'restored with pg_restore (or the site\'s own PostgreSQL tools)');
      const dataDir = resolve(opts.data);
      const secrets = { identities: (opts.identity ?? []).flatMap(readIdentityFile), ...(opts.passphraseFile ? { passphrase: readPassphraseFile(opts.passphraseFile, false) } : {}) };
      const [{ LEGACY_BACKUP_FORMAT, restoreRelay }, { claimDataDirectory }] = await Promise.all([import('./backup'), import('./DataDirectory')]);
      const release = claimDataDirectory(dataDir, 'restore');
      try {
        const result = await restoreRelay(resolve(opts.from), dataDir, { actor: admin, force: opts.force === true, newKey: opts.newKey === true, otherRelay: opts.otherRelay === true, secrets, ...(opts.databaseKeyFile ? { databaseKeyFile: opts.databaseKeyFile } : {}) });
        console.log(`restored into ${dataDir}: audit log intact, ${result.manifest.auditRecords} records (backup taken ${new Date(result.manifest.createdAt).toISOString()})`);
        if (result.manifest.format === LEGACY_BACKUP_FORMAT) console.log(`this was an unencrypted backup of an earlier version (${LEGACY_BACKUP_FORMAT}); the restored database is encrypted now: destroy the unencrypted backups once newer ones exist`);
        console.log(result.databaseKey.stored ? `the database key was stored in ${result.databaseKey.describe}: keep a copy of it apart from the backups (docs/deployment.md, "The keys")` : `the restored database is encrypted with ${result.databaseKey.describe}, as before`);
        // A backup from before a key rotation brings the retired key back: it must not sign again.
        if (result.replacedKey) console.log(`the backup's audit key ${result.replacedKey} ${opts.newKey ? 'was' : 'had been retired; it was'} replaced with a new one`);
        console.log(`audit key fingerprint (SHA-256): ${result.fingerprint}; compare it with the one on record, and if the key was rotated after this backup, restore again with --new-key`);
        // The restored records cannot go on as the log that was signed past them: a new log begins (its first record says so).
        const { log } = result;
        console.log(`the audit log goes on as a new log, ${log.origin}, from record ${log.firstSeq}, which records this restore; ${log.previous} ends with the backup`);
        console.log(log.lost ? `records ${log.lost.from}..${log.lost.to} of ${log.previous}, which the relay had signed in exports, were lost with this restore: the new log's first record names them, and rounds-audit verify --previous reports them` : `every record of ${log.previous} that the relay had signed in an export is in the backup`);
        if (log.replaced) console.log(`the log the relay wrote until now, ${log.replaced.origin}, is not the backup's: ${log.replaced.lost ? `all of its signed records, ${log.replaced.lost.from}..${log.replaced.lost.to}, were lost` : 'it had signed no records'} with this restore (the new log's first record names them)`);
        if (log.discarded) console.log(`the restore discarded ${log.discarded.from === log.discarded.to ? `record ${log.discarded.from}` : `records ${log.discarded.from}..${log.discarded.to}`} of the replaced database (signed or not); the new log's first record counts them`);
      } finally {
        release();
      }
    });

  const audit = program.command('audit').description('the audit log');
  audit.command('export')
    .description('export a signed, offline-verifiable bundle of the audit log for a date range')
    .addOption(dataOption())
    .addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption())
    .option('--from <date>', 'first day (inclusive), e.g. 2026-11-01 (required, but with --log)', date)
    .option('--to <date>', 'last day (exclusive), e.g. 2026-12-01 (required, but with --log)', date)
    .option('--user <username>', 'only what this account did, what was done to it, and what was sent to it', validated(UsernameSchema, 'username'))
    .requiredOption('--out <path>', 'where to write the bundle: a directory, or a file ending in .zip')
    .option('--allow-broken', 'export a log whose hash chain is broken anyway, as evidence: every file of the bundle says so, and rounds-audit verify fails it')
    .option('--log <origin>', 'export an earlier log (one a restore ended) whose records the database still holds, all of them')
    .addOption(threadsOption('make events.csv and the report'))
    .action(async (opts: DataOptions & { from?: number; to?: number; user?: string; out: string; allowBroken?: boolean; log?: string; threads: ThreadChoice }) => withStore(admin, opts, async (store) => {
      const { auditDirectory, checkAuditTree, checkpointMemory, exportAudit, exportEarlierLog, loadOrCreateAuditKey, refuseEarlierLogExport } = await loadAudit();
      if (opts.log !== undefined) {
        if (opts.user !== undefined || opts.from !== undefined || opts.to !== undefined) throw new ConfigurationError('--log exports the whole of an earlier log: it takes no --from, --to or --user');
        // The earlier log's bounds and tree root come from its restore record, which lives in the current log:
        // that log must hold against its stored tree and the checkpoints the relay signed before it is believed.
        const current = await checkAuditTree(store, resolve(opts.data), false);
        if (!current.ok) await refuseEarlierLogExport(store, admin, opts.log, 'the current log does not check out', `the current audit log does not check out, so its restore records are not believed and nothing was exported: ${current.failures.join('; ')}`);
        const key = loadOrCreateAuditKey(resolve(opts.data));
        const result = await exportEarlierLog(store, key, { origin: opts.log, out: resolve(opts.out), actor: admin, dataDir: resolve(opts.data), directory: await auditDirectory(store) });
        console.log(`exported ${result.records} records of ${opts.log} (from record ${result.firstSeq}) to ${result.path}`);
        console.log(`signed by the audit key ${key.fingerprint}; check with: rounds-audit verify ${opts.out}`);
        return;
      }
      if (opts.from === undefined || opts.to === undefined) throw new ConfigurationError('--from and --to are required (or --log, for an earlier log)');
      const range = { from: opts.from, to: opts.to };
      let userId: string | null = null;
      if (opts.user) {
        const user = await store.userByUsername(opts.user);
        if (!user) throw new ConfigurationError(`no account named ${opts.user}`);
        userId = user.id;
      }
      const key = loadOrCreateAuditKey(resolve(opts.data));
      // Names resolved now, from the relay's accounts (people.json): the records themselves keep their ids.
      const result = await exportAudit(store, key, {
        ...range, user: userId, ...(opts.user ? { username: opts.user } : {}), out: resolve(opts.out), actor: admin, allowBroken: opts.allowBroken === true, readout: readoutPlace(opts.threads),
        directory: await auditDirectory(store), memory: checkpointMemory(resolve(opts.data), store),
      });
      if (result.chainBroken) console.error(`WARNING: the audit log's hash chain is broken at record ${result.chainBroken.seq} (${result.chainBroken.reason}); the bundle is marked as broken in every file, and rounds-audit verify fails it`);
      console.log(`exported ${result.records} records (log of ${result.treeSize}) to ${result.path}`);
      console.log(`signed by the audit key ${key.fingerprint}; check with: rounds-audit verify ${opts.out}`);
    }));
  audit.command('key')
    .description('print the fingerprint and public key of the org audit key (created at first use)')
    .addOption(dataOption())
    .option('--pem', 'print the public key alone (PEM), e.g. to save it for `rounds-audit verify --key`')
    .action(async (opts: DataOptions & { pem?: boolean }) => {
      const { loadOrCreateAuditKey } = await import('./audit/auditKey');
      const key = loadOrCreateAuditKey(resolve(opts.data));
      if (!opts.pem) console.log(`audit key fingerprint (SHA-256): ${key.fingerprint}`);
      process.stdout.write(key.publicKeyPem);
    });
  audit.command('rotate-key')
    .description('replace the org audit key (the old private key is destroyed; its public key is kept in audit-keys/)')
    .addOption(dataOption())
    .addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption())
    .action(async (opts: DataOptions) => withStore(admin, opts, async (store) => {
      const { rotateAuditKey, rotationDetails } = await import('./audit/auditKey');
      const { retired, current, retiredPublicKeyFile, recovered } = await rotateAuditKey(resolve(opts.data), (old, next, rotation) =>
        store.appendAudit([{ type: 'audit.key_rotated', actor: admin, subject: '', details: rotationDetails(old, next, rotation) }]), () => lastAnnouncedKey(store));
      if (recovered) console.log(recovered);
      console.log(`retired audit key ${retired.fingerprint}; its public key is kept in ${retiredPublicKeyFile}`);
      console.log('the retired key signed the rotation (kept in the audit log, carried by every export for rounds-audit verify --previous)');
      console.log(`audit key fingerprint (SHA-256): ${current.fingerprint}`);
      process.stdout.write(current.publicKeyPem);
    }));
  audit.command('check')
    .description('check that the audit log is intact (every record hashes and links correctly)')
    .addOption(dataOption())
    .addOption(keyFileOption()).addOption(siteDatabaseOption()).addOption(databasePasswordFileOption())
    .option('--rebuild-tree', 'drop the stored Merkle tree of the audit log (derived data) and rebuild it from the records (refused when records differ from it)')
    .option('--force', 'with --rebuild-tree: rebuild even when records differ from the tree (audited, flagged)')
    .action(async (opts: DataOptions & { rebuildTree?: boolean; force?: boolean }) => withStore(admin, opts, async (store) => {
      const { checkAuditTree, currentAuditLogLines } = await loadAudit();
      const check = await store.checkAuditChain();
      if (check.ok) {
        console.log(`audit log intact: ${check.records} records`);
        // The hash chain cannot show a rewrite of the whole tail by someone with the database file; a head
        // kept elsewhere (the compliance officer's records, syslog) can. Signed checkpoints come with exports.
        console.log(`head: ${check.head} (record ${check.records}); keep this line outside the relay to detect later rewrites`);
      }
      else {
        console.log(`audit log BROKEN at record ${check.brokenAt}: ${check.reason}`);
        process.exitCode = 2;
      }
      for (const line of await currentAuditLogLines(store, resolve(opts.data))) console.log(line);
      // The chain cannot show a rollback or a re-chained rewrite: the tree and the signed checkpoints can.
      const tree = await checkAuditTree(store, resolve(opts.data), opts.rebuildTree === true ? { actor: admin, force: opts.force === true } : false);
      for (const line of tree.lines) console.log(line);
      if (!tree.ok) process.exitCode = 2;
    }));

  offerDatabaseFromConfigFile(program);
  return program;
}

export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    await buildCli().parseAsync([...argv], { from: 'user' });
  } catch (error) {
    const message = error instanceof RelayFailure || error instanceof ConfigurationError ? error.message : describeError(error);
    console.error(`error: ${message}`);
    process.exitCode = 1;
  }
}

/** Backup and restore are the embedded database's: a site's PostgreSQL database has its own tools. */
function embeddedOnly(opts: DataOptions, how: string): void {
  if (opts.database) throw new ConfigurationError(`the relays' PostgreSQL database is ${how}, not by rounds-server: see docs/deployment.md, "Two or more relays"`);
}
