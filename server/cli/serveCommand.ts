import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { auditKeySource, finishInterruptedRotation } from '../audit/auditKey';
import { checkpointMemory } from '../audit/exportAudit';
import { openSiemSink } from '../audit/siem/openSiemStream';
import { SiemLeadership } from '../audit/siem/SiemLeadership';
import { DEFAULT_THROTTLE } from '../auth/LoginThrottle';
import { DEFAULT_ARGON2 } from '../auth/passwords';
import { systemClock } from '../Clock';
import { claimDataDirectory } from '../DataDirectory';
import { DEFAULT_CONFIG, type RelayConfig } from '../RelayConfig';
import { ConfigurationError, RelayServer, isLoopback } from '../RelayServer';
import { jsonLog, relayLogger } from '../http/relayLog';
import { readRelayConfigFile } from '../relayConfigFile';
import { assertLdapFilesReadable } from '../directory/ldapSyncConfig';
import { MIB, dataOption, databasePasswordFileOption, int, keyFileOption, openConfiguredStore, siteDatabaseOption, lastAnnouncedKey, serveLimits, trustedProxy, type DataOptions, type ServeLimitOptions } from '../cliOptions';

/** `rounds-server serve`: runs the relay on its data directory (added to the program by buildCli in server/cli.ts). */
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
    .action(async (opts: DataOptions & ServeLimitOptions & { host: string; port: number; tlsCert?: string; tlsKey?: string; maxEnvelopeKib: number; retentionDays: number; inactivityDays: number; lockoutMinutes: number; throttleBaseMs: number; argon2MemoryKib: number; logLevel: 'error' | 'warn' | 'info'; trustProxy?: string[]; config?: string; metricsPort?: number; metricsHost?: string; blobMaxMib: number; blobQuotaMib: number; blobMibPerMinute: number; blobFreeDiskHeadroomMib: number }) => {
      if (opts.metricsHost !== undefined && opts.metricsPort === undefined) throw new ConfigurationError('--metrics-host needs --metrics-port (the metrics listener is off without it)');
      const metricsHost = opts.metricsHost ?? '127.0.0.1';
      // The config file and the files it names are checked before anything starts: a mistake stops the relay with its reason.
      const configFile = opts.config ? readRelayConfigFile(resolve(opts.config)) : {};
      const siemSink = configFile.siem ? openSiemSink(configFile.siem) : undefined;
      if (configFile.directory?.ldap) assertLdapFilesReadable(configFile.directory.ldap);
      const config: RelayConfig = {
        ...DEFAULT_CONFIG,
        maxEnvelopeBytes: opts.maxEnvelopeKib * 1024,
        retentionDays: opts.retentionDays,
        inactivityDays: opts.inactivityDays,
        // The address-only cap scales with the base delay (30 s at the default 1 s).
        throttle: { ...DEFAULT_THROTTLE, lockMs: opts.lockoutMinutes * 60_000, baseDelayMs: opts.throttleBaseMs, addressMaxDelayMs: 30 * opts.throttleBaseMs },
        argon2: { ...DEFAULT_ARGON2, memoryKiB: opts.argon2MemoryKib },
        ...serveLimits(opts),
        blobs: {
          ...DEFAULT_CONFIG.blobs, maxBlobBytes: opts.blobMaxMib * MIB, accountQuotaBytes: opts.blobQuotaMib * MIB,
          bytesPerDeviceMinute: opts.blobMibPerMinute * MIB, freeDiskHeadroomBytes: opts.blobFreeDiskHeadroomMib * MIB,
        },
        ...(configFile.siem ? { siem: configFile.siem } : {}),
        ...(configFile.oidc ? { oidc: configFile.oidc } : {}),
        admission: { ...DEFAULT_CONFIG.admission, ...configFile.admission },
        ...(configFile.directory?.ldap ? { ldapSync: configFile.directory.ldap } : {}),
        ...(configFile.scim ? { scimRoleGroups: configFile.scim.roleGroups } : {}),
      };
      const dataDir = resolve(opts.data);
      const release = claimDataDirectory(dataDir, 'serve');
      process.on('exit', release);
      // The embedded database in the data directory, or the site's PostgreSQL one that other instances share.
      const store = await openConfiguredStore(opts, true, configFile.database);
      const server = new RelayServer(store, config, systemClock, jsonLog(relayLogger(opts.logLevel)));
      let siem: SiemLeadership | undefined;
      // Registered before anything else can take time: a stop during start-up still closes cleanly. The SIEM
      // stream first: it sends what it can of the log (a few seconds at most) while the store is still open.
      const stop = () => void (async () => {
        await siem?.stop();
        await server.close();
      })().then(() => process.exit(0), () => process.exit(1));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const recovered = await finishInterruptedRotation(dataDir, () => lastAnnouncedKey(store));
      if (recovered) console.log(recovered);
      const auditKey = auditKeySource(dataDir);
      server.auditKey = auditKey.read;
      server.auditCheckpoints = checkpointMemory(dataDir, store);
      if (siemSink && config.siem) {
        // One relay instance streams at a time (SiemLeadership). A stream that cannot start (its cursor file
        // damaged) must not keep the wards from messaging: the relay runs, says so loudly, and the records wait
        // in the log until the cursor is fixed.
        siem = new SiemLeadership(store, siemSink, config.siem, dataDir, (line) => console.error(line));
        siem.start((from) => console.log(`audit log streamed to ${siemSink.destination}, from record ${from}`));
      }
      const address = await server.listen({ host: opts.host, port: opts.port, ...(opts.tlsCert ? { tlsCert: opts.tlsCert } : {}), ...(opts.tlsKey ? { tlsKey: opts.tlsKey } : {}), tlsMinVersion: opts.tlsMinVersion === '1.3' ? 'TLSv1.3' : 'TLSv1.2', ...(opts.trustProxy ? { trustProxy: opts.trustProxy } : {}) }, opts.logLevel);
      console.log(`rounds-server listening on ${address} (data: ${dataDir}${opts.database ?? configFile.database?.url ? `, database: ${opts.database ?? configFile.database?.url}` : ''})`);
      console.log(`audit key fingerprint (SHA-256): ${auditKey.current.fingerprint}`);
      if (opts.metricsPort !== undefined) {
        // The figures tell how busy the relay is and how its sign-ins fare: loopback unless the operator says otherwise.
        if (!isLoopback(metricsHost)) console.error(`WARNING: the metrics listener on ${metricsHost} is reachable from that network without authentication; restrict it with a firewall to the Prometheus server`);
        console.log(`rounds-server metrics on ${await server.listenMetrics(metricsHost, opts.metricsPort)}`);
      }
    });
}
