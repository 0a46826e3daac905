import { InvalidArgumentError, Option } from 'commander';
import type { AccountService } from './AccountService';
import { parseRecipient, readPassphraseFile, type BackupEncryption } from './backupEncryption';
import { systemClock } from './Clock';
import { ConfigurationError } from './ConfigurationError';
import { DEFAULT_CONFIG, type RelayConfig } from './RelayConfig';
import { isAddressOrRange } from './relayAddresses';
import type { RelayStore } from './storage/RelayStore';
import { databasePasswordFileOption } from './cli/migrateCommand';

/* The option parsers and helpers the `rounds-server` commands share (server/cli.ts, server/cli/). */

export const int = (name: string, min: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number of at least ${min}`);
  return n;
};

export const validated = <T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { message: string }[] } } }, what: string) => (value: unknown) => {
  const result = schema.safeParse(value);
  if (!result.success) throw new InvalidArgumentError(`${what}: ${result.error.issues[0]?.message ?? 'invalid'}`);
  return result.data;
};

export const date = (value: string) => {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`not a date: ${value} (use YYYY-MM-DD or an ISO 8601 time)`);
  return ms;
};

/** The key the audit log last announced a rotation to (to finish a rotation that was cut off). */
export async function lastAnnouncedKey(store: RelayStore): Promise<string | null> {
  const rotations = (await store.auditRecords(0, Number.MAX_SAFE_INTEGER)).filter((r) => r.type === 'audit.key_rotated');
  const current = rotations.at(-1)?.details.current;
  return typeof current === 'string' ? current : null;
}

/**
 * The options every command that opens the database has: the data directory, where its key is when not in
 * it, and for relays sharing a PostgreSQL database, that database (the embedded one in --data is then unused).
 */
export interface DataOptions { data: string; databaseKeyFile?: string; database?: string; databasePasswordFile?: string }

/** --database for the commands that open a store: optional (without it, the embedded database in --data). */
export const siteDatabaseOption = () => new Option('--database <url>', "the site's PostgreSQL database that several relays share, postgres://USER@HOST:PORT/DB (no password in it); without it, the embedded database in --data").env('ROUNDS_DATABASE_URL');
export { databasePasswordFileOption };

/**
 * Opens the data directory's store for one admin command; `admin` (`admin:<os account>`, server/cli/adminActor.ts) is who its audit records name.
 * The store's modules (SQLCipher, the account service and argon2) are loaded here, when a command opens it: `--help`
 * and the commands that open no store start without them.
 */
export async function withStore<T>(admin: string, opts: DataOptions, fn: (store: RelayStore, accounts: AccountService) => Promise<T>): Promise<T> {
  const [{ openConfiguredStore }, { AccountService }] = await Promise.all([import('./cli/commandStore'), import('./AccountService')]);
  const store = await openConfiguredStore(opts, false);
  try {
    return await fn(store, new AccountService(store, systemClock, DEFAULT_CONFIG, undefined, undefined, admin));
  } finally {
    await store.close();
  }
}

export const dataOption = () => new Option('--data <dir>', 'the relay data directory').makeOptionMandatory();

export const MIB = 1024 * 1024;

/** `serve`'s options for the delivery limits, key-fetch limits, connection timeouts and TLS version (README). */
export interface ServeLimitOptions {
  maxEnvelopeKib: number;
  queueMaxEnvelopes: number;
  queueMaxMib: number;
  queueSenderSharePercent: number;
  sendEnvelopesPerMinute: number;
  sendMibPerMinute: number;
  accountSendEnvelopesPerMinute: number;
  accountSendMibPerMinute: number;
  accountEnvelopesPerDay: number;
  keyFetchesPerAccountHour: number;
  keyFetchesPerPairHour: number;
  minFreeDiskMib: number;
  headerTimeoutSeconds: number;
  idleTimeoutSeconds: number;
  tlsMinVersion: '1.2' | '1.3';
}

export function serveLimits(opts: ServeLimitOptions): Pick<RelayConfig, 'delivery' | 'keyFetches' | 'timeouts' | 'minFreeDiskBytes'> {
  // A queue smaller than one envelope would refuse everything sent to anyone; so would a sender's share of it.
  if (opts.queueMaxMib * MIB < opts.maxEnvelopeKib * 1024) throw new ConfigurationError('--queue-max-mib must hold at least one envelope of --max-envelope-kib');
  if (opts.queueSenderSharePercent > 100) throw new ConfigurationError('--queue-sender-share-percent is a share of the queue: at most 100');
  if ((opts.queueMaxMib * MIB * opts.queueSenderSharePercent) / 100 < opts.maxEnvelopeKib * 1024) throw new ConfigurationError('--queue-sender-share-percent of --queue-max-mib must hold at least one envelope of --max-envelope-kib');
  return {
    delivery: {
      maxQueuedEnvelopes: opts.queueMaxEnvelopes, maxQueuedBytes: opts.queueMaxMib * MIB, senderSharePercent: opts.queueSenderSharePercent,
      sendEnvelopesPerMinute: opts.sendEnvelopesPerMinute, sendBytesPerMinute: opts.sendMibPerMinute * MIB,
      accountEnvelopesPerMinute: opts.accountSendEnvelopesPerMinute, accountBytesPerMinute: opts.accountSendMibPerMinute * MIB, accountEnvelopesPerDay: opts.accountEnvelopesPerDay,
    },
    keyFetches: { ...DEFAULT_CONFIG.keyFetches, perAccountPerHour: opts.keyFetchesPerAccountHour, perPairPerHour: opts.keyFetchesPerPairHour },
    timeouts: { headersMs: opts.headerTimeoutSeconds * 1000, idleMs: opts.idleTimeoutSeconds * 1000 },
    minFreeDiskBytes: opts.minFreeDiskMib * MIB,
  };
}
export const keyFileOption = () => new Option('--database-key-file <file>', 'the database key, when it is not database.key in the data directory (nor the systemd credential database-key)');

/** How `backup` encrypts: to --recipient keys, or to the passphrase in --passphrase-file; never unencrypted. */
export function backupEncryption(opts: { recipient?: string[]; passphraseFile?: string }): BackupEncryption {
  const recipients = opts.recipient ?? [];
  if (recipients.length > 0 && opts.passphraseFile) throw new ConfigurationError('pass --recipient or --passphrase-file, not both (age encrypts a file to a passphrase alone)');
  if (opts.passphraseFile) return { kind: 'passphrase', passphrase: readPassphraseFile(opts.passphraseFile, true) };
  if (recipients.length === 0) {
    throw new ConfigurationError('a backup holds the database and its key, and the audit signing key, so it is always encrypted: pass --recipient age1… (the public key `rounds-server backup keygen` printed) or --passphrase-file FILE');
  }
  return { kind: 'recipients', recipients: recipients.map(parseRecipient) };
}

export const repeatable = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

export const trustedProxy = (value: string, previous: string[] | undefined) => {
  if (!isAddressOrRange(value)) throw new InvalidArgumentError(`not an IP address or CIDR range: ${value}`);
  return [...(previous ?? []), value];
};
