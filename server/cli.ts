import { Command, InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { describeError } from '../shared/errors';
import { DeviceIdSchema } from '../shared/ids';
import { ROUNDS_VERSION } from '../shared/version';
import { DisplayNameSchema, RoleSchema, UsernameSchema, type Role } from '../shared/wire/relay';
import { AccountService } from './AccountService';
import { exportAudit } from './audit/exportAudit';
import { auditKeySource, finishInterruptedRotation, loadOrCreateAuditKey, rotateAuditKey } from './audit/auditKey';
import { backupRelay, restoreRelay } from './backup';
import { claimDataDirectory } from './DataDirectory';
import { DEFAULT_THROTTLE } from './auth/LoginThrottle';
import { DEFAULT_ARGON2 } from './auth/passwords';
import { systemClock } from './Clock';
import { DEFAULT_CONFIG, type RelayConfig } from './RelayConfig';
import { RelayFailure } from './RelayFailure';
import { ConfigurationError, RelayServer, openStore } from './RelayServer';
import type { RelayStore } from './storage/RelayStore';

/*
 * `rounds-server`: runs the relay and administers its data directory. Admin commands work on the same
 * directory while the relay runs (revocations reach connected devices within a second).
 */

const int = (name: string, min: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number of at least ${min}`);
  return n;
};

const validated = <T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { message: string }[] } } }, what: string) => (value: unknown) => {
  const result = schema.safeParse(value);
  if (!result.success) throw new InvalidArgumentError(`${what}: ${result.error.issues[0]?.message ?? 'invalid'}`);
  return result.data;
};

const date = (value: string) => {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`not a date: ${value} (use YYYY-MM-DD or an ISO 8601 time)`);
  return ms;
};

/** The key the audit log last announced a rotation to (to finish a rotation that was cut off). */
async function lastAnnouncedKey(store: RelayStore): Promise<string | null> {
  const rotations = (await store.auditRecords(0, Number.MAX_SAFE_INTEGER)).filter((r) => r.type === 'audit.key_rotated');
  const current = rotations.at(-1)?.details.current;
  return typeof current === 'string' ? current : null;
}

async function withStore<T>(dataDir: string, fn: (store: RelayStore, accounts: AccountService) => Promise<T>): Promise<T> {
  const store = openStore(resolve(dataDir), systemClock, { create: false });
  try {
    return await fn(store, new AccountService(store, systemClock, DEFAULT_CONFIG));
  } finally {
    await store.close();
  }
}

const dataOption = () => new Option('--data <dir>', 'the relay data directory').makeOptionMandatory();

export function buildCli(): Command {
  const program = new Command('rounds-server')
    .description('Rounds relay: accounts, prekey directory and store-and-forward for end-to-end encrypted messages')
    .version(ROUNDS_VERSION)
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });

  program.command('serve')
    .description('run the relay')
    .addOption(dataOption())
    .option('--host <address>', 'address to listen on (anything but loopback needs TLS)', '127.0.0.1')
    .option('--port <port>', 'port to listen on', int('port', 0), 8443)
    .option('--tls-cert <file>', 'PEM certificate chain; with --tls-key the relay serves HTTPS and WSS only')
    .option('--tls-key <file>', 'PEM private key')
    .option('--max-envelope-kib <n>', 'largest envelope accepted', int('max-envelope-kib', 1), DEFAULT_CONFIG.maxEnvelopeBytes / 1024)
    .option('--retention-days <n>', 'undelivered envelopes are deleted after this many days', int('retention-days', 1), DEFAULT_CONFIG.retentionDays)
    .option('--inactivity-days <n>', 'deactivate accounts unused this long (0: never)', int('inactivity-days', 0), DEFAULT_CONFIG.inactivityDays)
    .option('--lockout-minutes <n>', 'how long a lockout lasts (0: until `user unlock`)', int('lockout-minutes', 0), DEFAULT_THROTTLE.lockMs / 60_000)
    .option('--throttle-base-ms <n>', 'first delay after repeated failed sign-ins (doubles each time)', int('throttle-base-ms', 0), DEFAULT_THROTTLE.baseDelayMs)
    .option('--argon2-memory-kib <n>', 'Argon2id memory per password hash', int('argon2-memory-kib', 8 * 1024), DEFAULT_ARGON2.memoryKiB)
    .addOption(new Option('--log-level <level>', 'request logging').choices(['error', 'warn', 'info']).default('info'))
    .action(async (opts: { data: string; host: string; port: number; tlsCert?: string; tlsKey?: string; maxEnvelopeKib: number; retentionDays: number; inactivityDays: number; lockoutMinutes: number; throttleBaseMs: number; argon2MemoryKib: number; logLevel: 'error' | 'warn' | 'info' }) => {
      const config: RelayConfig = {
        ...DEFAULT_CONFIG,
        maxEnvelopeBytes: opts.maxEnvelopeKib * 1024,
        retentionDays: opts.retentionDays,
        inactivityDays: opts.inactivityDays,
        // The address-only cap scales with the base delay (30 s at the default 1 s).
        throttle: { ...DEFAULT_THROTTLE, lockMs: opts.lockoutMinutes * 60_000, baseDelayMs: opts.throttleBaseMs, addressMaxDelayMs: 30 * opts.throttleBaseMs },
        argon2: { ...DEFAULT_ARGON2, memoryKiB: opts.argon2MemoryKib },
      };
      const dataDir = resolve(opts.data);
      const release = claimDataDirectory(dataDir, 'serve');
      process.on('exit', release);
      const store = openStore(dataDir);
      const server = new RelayServer(store, config);
      // Registered before anything else can take time: a stop during start-up still closes cleanly.
      const stop = () => void server.close().then(() => process.exit(0), () => process.exit(1));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const recovered = await finishInterruptedRotation(dataDir, () => lastAnnouncedKey(store));
      if (recovered) console.log(recovered);
      const auditKey = auditKeySource(dataDir);
      server.auditKey = auditKey.read;
      const address = await server.listen({ host: opts.host, port: opts.port, ...(opts.tlsCert ? { tlsCert: opts.tlsCert } : {}), ...(opts.tlsKey ? { tlsKey: opts.tlsKey } : {}) }, opts.logLevel);
      console.log(`rounds-server listening on ${address} (data: ${dataDir})`);
      console.log(`audit key fingerprint (SHA-256): ${auditKey.current.fingerprint}`);
    });

  const user = program.command('user').description('manage accounts');
  user.command('add')
    .description('create an account and print its one-time enrollment code')
    .addOption(dataOption())
    .requiredOption('--username <name>', 'sign-in name (lower case)', validated(UsernameSchema, 'username'))
    .requiredOption('--display-name <name>', 'the name colleagues see', validated(DisplayNameSchema, 'display name'))
    .addOption(new Option('--role <role>', 'what the account may do').choices(RoleSchema.options).makeOptionMandatory())
    .action(async (opts: { data: string; username: string; displayName: string; role: Role }) => withStore(opts.data, async (_store, accounts) => {
      const { userId, enrollmentCode, expiresAt } = await accounts.addUser(opts.username, opts.displayName, opts.role);
      console.log(`created ${opts.username} (${opts.role}), id ${userId}`);
      console.log(`enrollment code: ${enrollmentCode}`);
      console.log(`valid until ${new Date(expiresAt).toISOString()}; give it to ${opts.displayName} in person, it works once`);
    }));
  user.command('list')
    .description('list accounts')
    .addOption(dataOption())
    .action(async (opts: { data: string }) => withStore(opts.data, async (store) => {
      const now = Date.now();
      for (const u of await store.listUsers()) {
        const locked = u.lockedUntil !== null && u.lockedUntil > now ? ' locked' : '';
        console.log(`${u.username}\t${u.displayName}\t${u.role}\t${u.status}${locked}\tlast active ${new Date(u.lastActiveAt).toISOString()}\t${u.id}`);
      }
    }));
  /** An admin command that does one thing to one account and says so. */
  const accountCommand = (name: string, description: string, act: (accounts: AccountService, username: string) => Promise<void>, done: string) =>
    user.command(name)
      .description(description)
      .addOption(dataOption())
      .argument('<username>', 'the account', validated(UsernameSchema, 'username'))
      .action(async (username: string, opts: { data: string }) => withStore(opts.data, async (_s, accounts) => {
        await act(accounts, username);
        console.log(`${done} ${username}`);
      }));
  accountCommand('deactivate', 'deactivate an account: its devices are disconnected at once and their queues deleted', (a, u) => a.deactivate(u), 'deactivated');
  accountCommand('unlock', 'lift a lockout after too many failed sign-ins', (a, u) => a.unlock(u), 'unlocked');
  accountCommand('reactivate', 'bring back a deactivated account (its old devices stay revoked)', (a, u) => a.reactivate(u), 'reactivated');
  user.command('emergency')
    .description('issue a time-limited emergency sign-in (audited and flagged)')
    .addOption(dataOption())
    .argument('<username>', 'the account', validated(UsernameSchema, 'username'))
    .requiredOption('--reason <text>', 'why emergency access is needed (recorded in the audit log)')
    .action(async (username: string, opts: { data: string; reason: string }) => withStore(opts.data, async (_s, accounts) => {
      const { code, expiresAt } = await accounts.issueEmergency(username, opts.reason);
      console.log(`emergency code for ${username}: ${code}`);
      console.log(`valid once, until ${new Date(expiresAt).toISOString()}`);
    }));

  const device = program.command('device').description('manage devices');
  device.command('list')
    .description("list an account's devices")
    .addOption(dataOption())
    .argument('<username>', 'the account', validated(UsernameSchema, 'username'))
    .action(async (username: string, opts: { data: string }) => withStore(opts.data, async (store, accounts) => {
      const u = await accounts.requireUser(username);
      for (const d of await store.devices(u.id)) {
        const state = d.revokedAt !== null ? `revoked ${new Date(d.revokedAt).toISOString()}` : d.expiresAt !== null ? `emergency until ${new Date(d.expiresAt).toISOString()}` : 'active';
        console.log(`${d.deviceId}\t${d.name}\t${state}\tlast seen ${new Date(d.lastSeenAt).toISOString()}`);
      }
    }));
  device.command('revoke')
    .description('revoke a device: disconnected at once, its queue deleted, its credential void')
    .addOption(dataOption())
    .argument('<username>', 'the account', validated(UsernameSchema, 'username'))
    .argument('<device>', 'device number (see `device list`)', (value: string) => validated(DeviceIdSchema, 'device')(Number(value) as never))
    .action(async (username: string, deviceId: number, opts: { data: string }) => withStore(opts.data, async (_s, accounts) => {
      await accounts.revokeDevice(username, DeviceIdSchema.parse(deviceId));
      console.log(`revoked device ${deviceId} of ${username}`);
    }));

  program.command('backup')
    .description('write a consistent backup of the relay (database and audit key) while it runs')
    .addOption(dataOption())
    .requiredOption('--out <file>', 'the backup file (.zip; it holds the audit key: keep it safe)')
    .action(async (opts: { data: string; out: string }) => withStore(opts.data, async (store) => {
      const { auditRecords, chainOk, reason } = await backupRelay(store, resolve(opts.data), resolve(opts.out));
      console.log(`backed up to ${resolve(opts.out)} (audit log: ${auditRecords} records)`);
      if (!chainOk) {
        console.error(`the audit log does not check out (${reason ?? 'broken'}): the backup is kept as evidence, but restore will refuse it; run \`rounds-server audit check\``);
        process.exitCode = 2;
      }
    }));
  program.command('restore')
    .description('restore a backup into a data directory (stop the relay first)')
    .addOption(dataOption())
    .requiredOption('--from <file>', 'a file written by `rounds-server backup`')
    .option('--force', 'replace the database already in the data directory')
    .option('--new-key', 'start a new audit key instead of the backup\'s (if the key was rotated after this backup was taken)')
    .action(async (opts: { data: string; from: string; force?: boolean; newKey?: boolean }) => {
      const dataDir = resolve(opts.data);
      const release = claimDataDirectory(dataDir, 'restore');
      try {
        const result = await restoreRelay(resolve(opts.from), dataDir, { force: opts.force === true, newKey: opts.newKey === true });
        console.log(`restored into ${dataDir}: audit log intact, ${result.manifest.auditRecords} records (backup taken ${new Date(result.manifest.createdAt).toISOString()})`);
        // A backup from before a key rotation brings the retired key back: it must not sign again.
        if (result.replacedKey) console.log(`the backup's audit key ${result.replacedKey} ${opts.newKey ? 'was' : 'had been retired; it was'} replaced with a new one`);
        console.log(`audit key fingerprint (SHA-256): ${result.fingerprint}; compare it with the one on record, and if the key was rotated after this backup, restore again with --new-key`);
      } finally {
        release();
      }
    });

  const audit = program.command('audit').description('the audit log');
  audit.command('export')
    .description('export a signed, offline-verifiable bundle of the audit log for a date range')
    .addOption(dataOption())
    .requiredOption('--from <date>', 'first day (inclusive), e.g. 2026-11-01', date)
    .requiredOption('--to <date>', 'last day (exclusive), e.g. 2026-12-01', date)
    .option('--user <username>', 'only what this account did or what was done to it')
    .requiredOption('--out <path>', 'where to write the bundle: a directory, or a file ending in .zip')
    .action(async (opts: { data: string; from: number; to: number; user?: string; out: string }) => withStore(opts.data, async (store) => {
      let userId: string | null = null;
      if (opts.user) {
        const user = await store.userByUsername(opts.user);
        if (!user) throw new ConfigurationError(`no account named ${opts.user}`);
        userId = user.id;
      }
      const key = loadOrCreateAuditKey(resolve(opts.data));
      const result = await exportAudit(store, key, { from: opts.from, to: opts.to, user: userId, out: resolve(opts.out), actor: 'admin' });
      console.log(`exported ${result.records} records (log of ${result.treeSize}) to ${result.path}`);
      console.log(`signed by the audit key ${key.fingerprint}; check with: rounds-audit verify ${opts.out}`);
    }));
  audit.command('key')
    .description('print the fingerprint and public key of the org audit key (created at first use)')
    .addOption(dataOption())
    .option('--pem', 'print the public key alone (PEM), e.g. to save it for `rounds-audit verify --key`')
    .action((opts: { data: string; pem?: boolean }) => {
      const key = loadOrCreateAuditKey(resolve(opts.data));
      if (!opts.pem) console.log(`audit key fingerprint (SHA-256): ${key.fingerprint}`);
      process.stdout.write(key.publicKeyPem);
    });
  audit.command('rotate-key')
    .description('replace the org audit key (the old private key is destroyed; its public key is kept in audit-keys/)')
    .addOption(dataOption())
    .action(async (opts: { data: string }) => withStore(opts.data, async (store) => {
      const { retired, current, retiredPublicKeyFile, recovered } = await rotateAuditKey(resolve(opts.data), (old, next) =>
        store.appendAudit([{ type: 'audit.key_rotated', actor: 'admin', subject: '', details: { retired: old.fingerprint, current: next.fingerprint } }]), () => lastAnnouncedKey(store));
      if (recovered) console.log(recovered);
      console.log(`retired audit key ${retired.fingerprint}; its public key is kept in ${retiredPublicKeyFile}`);
      console.log(`audit key fingerprint (SHA-256): ${current.fingerprint}`);
      process.stdout.write(current.publicKeyPem);
    }));
  audit.command('check')
    .description('check that the audit log is intact (every record hashes and links correctly)')
    .addOption(dataOption())
    .action(async (opts: { data: string }) => withStore(opts.data, async (store) => {
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
    }));

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
