import { Option, type Command } from 'commander';
import { DEFAULT_THROTTLE } from '../auth/LoginThrottle';
import { DEFAULT_ARGON2 } from '../auth/argon2Params';
import { DEFAULT_CONFIG } from '../RelayConfig';
import { MIB, dataOption, databasePasswordFileOption, int, keyFileOption, siteDatabaseOption, trustedProxy } from '../cliOptions';
import type { ServeCommandOptions } from './serveRelay';

/**
 * `rounds-server serve`: runs the relay on its data directory (added to the program by buildCli in server/cli.ts).
 * Its options are declared here; the relay itself (fastify, prom-client, the SIEM stream, LDAP) is loaded when serve
 * runs (server/cli/serveRelay.ts), so that the admin commands beside it start without it.
 */
export function addServeCommand(program: Command): void {
  program.command('serve')
    .description('run the relay')
    .addOption(dataOption())
    .addOption(keyFileOption())
    .addOption(siteDatabaseOption())
    .addOption(databasePasswordFileOption())
    .option('--config <file>', 'the relay config file (JSON): where the audit log is streamed to a SIEM, the LDAP directory accounts are synced from (docs/deployment.md)')
    .option('--host <address>', 'address to listen on (anything but loopback needs TLS)', '127.0.0.1')
    .option('--port <port>', 'port to listen on', int('port', 0), 8443)
    .option('--tls-cert <file>', 'PEM certificate chain; with --tls-key the relay serves HTTPS and WSS only')
    .option('--tls-key <file>', 'PEM private key')
    .addOption(new Option('--tls-min-version <version>', 'oldest TLS version accepted (1.2: AEAD suites only; 1.3: TLS 1.3 only)').choices(['1.2', '1.3']).default('1.2'))
    .option('--trust-proxy <address or CIDR>', 'a load balancer in front of the relay (repeatable): requests from it count as from the client its X-Forwarded-For names', trustedProxy)
    .option('--max-envelope-kib <n>', 'largest envelope accepted', int('max-envelope-kib', 1), DEFAULT_CONFIG.maxEnvelopeBytes / 1024)
    .option('--retention-days <n>', 'undelivered envelopes are deleted after this many days', int('retention-days', 1), DEFAULT_CONFIG.retentionDays)
    .option('--inactivity-days <n>', 'deactivate accounts unused this long (0: never)', int('inactivity-days', 0), DEFAULT_CONFIG.inactivityDays)
    .option('--lockout-minutes <n>', 'how long a lockout lasts (0: until `user unlock`)', int('lockout-minutes', 0), DEFAULT_THROTTLE.lockMs / 60_000)
    .option('--throttle-base-ms <n>', 'first delay after repeated failed sign-ins (doubles each time)', int('throttle-base-ms', 0), DEFAULT_THROTTLE.baseDelayMs)
    .option('--argon2-memory-kib <n>', 'Argon2id memory per password hash', int('argon2-memory-kib', 8 * 1024), DEFAULT_ARGON2.memoryKiB)
    .option('--queue-max-envelopes <n>', 'envelopes one recipient device may have waiting', int('queue-max-envelopes', 1), DEFAULT_CONFIG.delivery.maxQueuedEnvelopes)
    .option('--queue-max-mib <n>', 'MiB of ciphertext one recipient device may have waiting', int('queue-max-mib', 1), DEFAULT_CONFIG.delivery.maxQueuedBytes / MIB)
    .option('--queue-sender-share-percent <n>', "share of each recipient device's queue (envelopes and MiB) one sending account may fill", int('queue-sender-share-percent', 1), DEFAULT_CONFIG.delivery.senderSharePercent)
    .option('--send-envelopes-per-minute <n>', 'envelopes one device may send per minute', int('send-envelopes-per-minute', 1), DEFAULT_CONFIG.delivery.sendEnvelopesPerMinute)
    .option('--send-mib-per-minute <n>', 'MiB of ciphertext one device may send per minute', int('send-mib-per-minute', 1), DEFAULT_CONFIG.delivery.sendBytesPerMinute / MIB)
    .option('--account-send-envelopes-per-minute <n>', 'envelopes all devices of one account together may send per minute', int('account-send-envelopes-per-minute', 1), DEFAULT_CONFIG.delivery.accountEnvelopesPerMinute)
    .option('--account-send-mib-per-minute <n>', 'MiB of ciphertext all devices of one account together may send per minute', int('account-send-mib-per-minute', 1), DEFAULT_CONFIG.delivery.accountBytesPerMinute / MIB)
    .option('--account-envelopes-per-day <n>', 'envelopes one account may send per day (refilled evenly over the day)', int('account-envelopes-per-day', 1), DEFAULT_CONFIG.delivery.accountEnvelopesPerDay)
    .option('--key-fetches-per-account-hour <n>', 'prekey bundle fetches all devices of one account together may make per hour', int('key-fetches-per-account-hour', 1), DEFAULT_CONFIG.keyFetches.perAccountPerHour)
    .option('--key-fetches-per-pair-hour <n>', "fetches of one colleague's bundles by all devices of one account per hour", int('key-fetches-per-pair-hour', 1), DEFAULT_CONFIG.keyFetches.perPairPerHour)
    .option('--blob-max-mib <n>', 'largest attachment blob accepted (MiB of ciphertext)', int('blob-max-mib', 1), DEFAULT_CONFIG.blobs.maxBlobBytes / MIB)
    .option('--blob-quota-mib <n>', "MiB of attachment blobs one account may hold on the relay (until they are fetched or expire)", int('blob-quota-mib', 1), DEFAULT_CONFIG.blobs.accountQuotaBytes / MIB)
    .option('--blob-mib-per-minute <n>', 'MiB of attachment blobs one device may upload and download per minute (BLOB_RATE_LIMITED past it)', int('blob-mib-per-minute', 1), DEFAULT_CONFIG.blobs.bytesPerDeviceMinute / MIB)
    .option('--blob-free-disk-headroom-mib <n>', 'attachment uploads stop this much above --min-free-disk-mib, keeping room for messages (RELAY_STORAGE_FULL)', int('blob-free-disk-headroom-mib', 0), DEFAULT_CONFIG.blobs.freeDiskHeadroomBytes / MIB)
    .option('--min-free-disk-mib <n>', 'below this much free space for the data directory, new envelopes and sign-ins without an enrolled workstation are refused (RELAY_STORAGE_FULL)', int('min-free-disk-mib', 0), DEFAULT_CONFIG.minFreeDiskBytes / MIB)
    .option('--header-timeout-seconds <n>', 'a connection must send its request headers (TLS handshake included) within this', int('header-timeout-seconds', 1), DEFAULT_CONFIG.timeouts.headersMs / 1000)
    .option('--idle-timeout-seconds <n>', 'an HTTP connection silent this long is closed (WebSockets have their own heartbeat)', int('idle-timeout-seconds', 1), DEFAULT_CONFIG.timeouts.idleMs / 1000)
    .addOption(new Option('--log-level <level>', 'least severe level logged (JSON lines on standard error; a failed sign-in is a warning)').choices(['error', 'warn', 'info']).default('info'))
    .option('--metrics-port <port>', 'serve Prometheus metrics at http://HOST:PORT/metrics, on a listener of their own (0: a free port; none without this)', int('metrics-port', 0))
    .option('--metrics-host <address>', 'address of the metrics listener (default 127.0.0.1; any other is reachable from its network)')
    .action(async (opts: ServeCommandOptions) => (await import('./serveRelay')).serveRelay(opts));
}
