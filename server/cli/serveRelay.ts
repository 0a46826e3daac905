import { resolve } from 'node:path';
import { auditKeySource, finishInterruptedRotation } from '../audit/auditKey';
import { checkpointMemory } from '../audit/checkpointMemory';
import { openSiemSink } from '../audit/siem/openSiemStream';
import { SiemLeadership } from '../audit/siem/SiemLeadership';
import { DEFAULT_THROTTLE } from '../auth/LoginThrottle';
import { DEFAULT_ARGON2 } from '../auth/argon2Params';
import { systemClock } from '../Clock';
import { claimDataDirectory } from '../DataDirectory';
import { DEFAULT_CONFIG, type RelayConfig } from '../RelayConfig';
import { RelayServer } from '../RelayServer';
import { ConfigurationError } from '../ConfigurationError';
import { isLoopback } from '../relayAddresses';
import { jsonLog, relayLogger } from '../http/relayLog';
import { readRelayConfigFile } from '../relayConfigFile';
import { MIB, lastAnnouncedKey, serveLimits, type DataOptions, type ServeLimitOptions } from '../cliOptions';
import { openConfiguredStore } from './commandStore';

/** What `rounds-server serve` was given (its options: server/cli/serveCommand.ts). */
export type ServeCommandOptions = DataOptions & ServeLimitOptions & { host: string; port: number; tlsCert?: string; tlsKey?: string; maxEnvelopeKib: number; retentionDays: number; inactivityDays: number; lockoutMinutes: number; throttleBaseMs: number; argon2MemoryKib: number; logLevel: 'error' | 'warn' | 'info'; trustProxy?: string[]; config?: string; metricsPort?: number; metricsHost?: string; blobMaxMib: number; blobQuotaMib: number; blobMibPerMinute: number; blobFreeDiskHeadroomMib: number };

/** `rounds-server serve`: checks the config, opens the store and runs the relay until SIGINT or SIGTERM. */
export async function serveRelay(opts: ServeCommandOptions): Promise<void> {
  if (opts.metricsHost !== undefined && opts.metricsPort === undefined) throw new ConfigurationError('--metrics-host needs --metrics-port (the metrics listener is off without it)');
  const metricsHost = opts.metricsHost ?? '127.0.0.1';
  // The config file and the files it names are checked before anything starts: a mistake stops the relay with its reason.
  const configFile = opts.config ? await readRelayConfigFile(resolve(opts.config)) : {};
  const siemSink = configFile.siem ? openSiemSink(configFile.siem) : undefined;
  if (configFile.directory?.ldap) (await import('../directory/ldapSyncConfig')).assertLdapFilesReadable(configFile.directory.ldap);
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
  // The metrics listener before the lines that say the relay is up (loading prom-client takes a moment): whoever
  // waits for them (an operator, a test, a health check) finds both listening.
  let metricsUrl: string | undefined;
  try {
    metricsUrl = opts.metricsPort === undefined ? undefined : await server.listenMetrics(metricsHost, opts.metricsPort);
  } catch (error) {
    // Not half a relay (serving the wards, never saying it is up, watched by nothing): it stops, and systemd's
    // Restart=on-failure tries again.
    console.error(`rounds-server: the metrics listener could not start on ${metricsHost} port ${opts.metricsPort}: ${error instanceof Error ? error.message : String(error)}`);
    await siem?.stop();
    await server.close();
    process.exit(1);
  }
  console.log(`rounds-server listening on ${address} (data: ${dataDir}${opts.database ?? configFile.database?.url ? `, database: ${opts.database ?? configFile.database?.url}` : ''})`);
  console.log(`audit key fingerprint (SHA-256): ${auditKey.current.fingerprint}`);
  if (metricsUrl) {
    // The figures tell how busy the relay is and how its sign-ins fare: loopback unless the operator says otherwise.
    if (!isLoopback(metricsHost)) console.error(`WARNING: the metrics listener on ${metricsHost} is reachable from that network without authentication; restrict it with a firewall to the Prometheus server`);
    console.log(`rounds-server metrics on ${metricsUrl}`);
  }
}
