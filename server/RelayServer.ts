import { BlobService } from './BlobService';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { describeError } from '../shared/errors';
import { AccountService } from './AccountService';
import { systemClock, type Clock } from './Clock';
import { EscalationService } from './escalation/EscalationService';
import { DeliveryHub } from './http/DeliveryHub';
import { buildRelayApp, type TlsMinVersion } from './http/relayApp';
import { InMemoryRateLimiter } from './RateLimiter';
import { jsonLog, relayLogger, type RelayLog } from './http/relayLog';
import { MetricsListener } from './metrics/MetricsListener';
import { RelayMetrics } from './metrics/RelayMetrics';
import { timedStore } from './metrics/TimedRelayStore';
import { MessageService } from './MessageService';
import { PresenceAnnouncements } from './presence/PresenceAnnouncements';
import type { AuditKey } from './audit/auditKey';
import { growAuditTree } from './audit/AuditTree';
import type { CheckpointMemory } from './audit/checkpointMemory';
import { ConfigurationError } from './ConfigurationError';
import { DEFAULT_CONFIG, type RelayConfig } from './RelayConfig';
import { ScimTokenExpiryWarnings } from './scim/scimTokens';
import { SCIM_CONFIG_PASS, syncScimRoleGroups, type RoleGroupSyncResult } from './roles/directoryRoleHolders';
import { MAX_ROLE_HOLDERS } from '../shared/wire/roles';
import type { ControlEvent, RelayStore } from './storage/RelayStore';
import { isLoopback } from './relayAddresses';

export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  /** TLSv1.2 (the default: AEAD suites only) or TLSv1.3 (TLS 1.2 clients are refused). */
  readonly tlsMinVersion?: TlsMinVersion;
  /**
   * Load balancers or reverse proxies in front of the relay (addresses or CIDR ranges). A request from
   * one of them is taken to come from the address its X-Forwarded-For names (the nearest hop not
   * itself trusted), so throttling and the audit log see each client's own address; from anyone else
   * the header is ignored. Without them every client behind a proxy would share the proxy's address.
   */
  readonly trustProxy?: readonly string[];
}

/** How often a relay sharing its store re-reads every connected device's queue, whatever it heard. */
const RESYNC_MS = 60_000;
const DAY_MS = 24 * 3600_000;
/** How often the relay looks for escalation rungs that fell due (a rung is released at most this late). */
const ESCALATION_TICK_MS = 500;
/** How long after starting the relay runs its first directory sync (ldapSync). */
const FIRST_DIRECTORY_SYNC_MS = 5000;

/** The running relay: storage, services, the HTTP/WebSocket app and its periodic jobs. */
export class RelayServer {
  readonly accounts: AccountService;
  readonly messages: MessageService;
  readonly hub: DeliveryHub;
  /** Attachment blobs (issue 20). */
  readonly blobs: BlobService;
  /** Signed acknowledgements and the escalation ladders the relay holds and releases by time (issue 19). */
  readonly escalations: EscalationService;
  /** Prometheus metrics (served by listenMetrics); the services' store calls are timed into them. */
  readonly metrics: RelayMetrics;
  /** Tells connected workstations whose statuses changed, here or on another instance (issue 19). */
  readonly presenceAnnouncements: PresenceAnnouncements;
  #app: FastifyInstance | undefined;
  #metricsListener: MetricsListener | undefined;
  /** The store as the services see it: timed (TimedRelayStore). */
  readonly #served: RelayStore;
  #closing = false;
  #timers: NodeJS.Timeout[] = [];
  #controlSeq = 0;
  /** The pass of applyControlEvents under way (passes run one after another). */
  #controlPass: Promise<void> = Promise.resolve();
  /** Set by a resync: the next pass checks the database's last event against #controlSeq first. */
  #controlReset = false;
  readonly #scimTokenWarnings = new ScimTokenExpiryWarnings();
  /** The directory sync the timer is running, if one is (close waits for it before closing the store). */
  #directorySync: Promise<void> | undefined;
  /** The org audit key, read for each export (serve sets it): the compliance role's export API uses it. */
  auditKey: (() => AuditKey) | undefined;
  /** Where the checkpoints the relay signs are remembered (serve sets it, beside the key). */
  auditCheckpoints: CheckpointMemory | undefined;

  constructor(
    readonly store: RelayStore,
    readonly config: RelayConfig = DEFAULT_CONFIG,
    readonly clock: Clock = systemClock,
    /** The relay's own log lines (a JSON log on standard error unless told otherwise: relayLog.ts). */
    private readonly log: RelayLog = jsonLog(relayLogger('warn')),
  ) {
    this.metrics = new RelayMetrics({ connectedDevices: () => this.hub.connected, queuedEnvelopes: () => store.queuedTotal() });
    this.#served = timedStore(store, this.metrics.storeSeconds);
    const served = this.#served;
    // A new device must be addressed by the very next send: the relay forgets its cached device list.
    // A replaced credential's sockets are cut off at once, as a revocation's are (the new one's stays).
    this.accounts = new AccountService(served, clock, config, (userId) => this.messages.forget(userId), (address, credentialHash) => this.hub.disconnect(address.userId, address.deviceId, { credentialHash }));
    this.hub = new DeliveryHub(served, (connection) => this.accounts.credentials.recheck(connection.address, connection.credentialHash), log);
    // Rate limits live with the store when other instances share it (PostgreSQL), else in this process.
    this.messages = new MessageService(served, clock, config, this.hub, store.sharedRateLimiter?.(), log, this.metrics.envelopes);
    this.hub.bind(this.messages);
    this.blobs = new BlobService(served.blobs, clock, config.blobs, config.retentionDays, {
      ...(store.sharedRateLimiter ? { limiter: store.sharedRateLimiter() } : {}), disk: { store, minFreeDiskBytes: config.minFreeDiskBytes },
    });
    // Ladders and acknowledgements are charged to the same rate limiter as sends (MessageService.chargeRequest).
    // A stopped ladder frees the blob readers named for its rungs that never went.
    this.escalations = new EscalationService(served, clock, config, this.hub, this.messages, this.blobs, (line) => this.log(line, 'error'));
    this.presenceAnnouncements = new PresenceAnnouncements(this.hub);
  }

  /** Binds and serves. Refuses a non-loopback address without TLS, with a message saying why. */
  async listen(options: ServeOptions, logLevel: 'silent' | 'error' | 'warn' | 'info' = 'warn'): Promise<string> {
    const tls = options.tlsCert || options.tlsKey ? this.#loadTls(options) : undefined;
    if (!tls && !isLoopback(options.host)) {
      throw new ConfigurationError(`refusing to listen on ${options.host} without TLS: pass --tls-cert and --tls-key, or bind to 127.0.0.1`);
    }
    this.#controlSeq = (await this.store.controlEvents(0)).at(-1)?.seq ?? 0;
    // A store shared with other relay instances tells this one what they queued and whom they cut off.
    const applyControl = () => void this.applyControlEvents().catch((error: unknown) => this.log(`applying control events failed: ${describeError(error)}`, 'error'));
    await this.store.subscribe?.({
      envelopesQueued: (recipients) => this.hub.envelopesQueued(recipients),
      controlChanged: applyControl,
      presenceChanged: (userIds) => this.presenceAnnouncements.changed(userIds),
      resync: () => {
        // The news may have been missed (the LISTEN connection was lost, or the database failed over to a
        // standby or was restored, and its events may be numbered from below where this relay had got to):
        // forget what the events would have dropped, and read them again from the database's own last one.
        this.accounts.credentials.forgetAll();
        this.messages.forgetAll();
        this.#controlReset = true;
        this.hub.resync();
        applyControl();
      },
    });
    this.#app = await buildRelayApp({
      accounts: this.accounts, messages: this.messages, hub: this.hub, store: this.#served, now: () => this.clock.now(), escalations: this.escalations,
      presenceChanged: (userId) => this.presenceAnnouncements.changed([userId]),
      metrics: this.metrics, shuttingDown: () => this.#closing, ...(this.log.logger ? { logger: this.log.logger } : {}),
      maxEnvelopeBytes: this.config.maxEnvelopeBytes, keysLowThreshold: this.config.keysLowThreshold, logLevel, timeouts: this.config.timeouts, admission: this.config.admission,
      ...(tls ? { tls: { ...tls, minVersion: options.tlsMinVersion ?? 'TLSv1.2' } } : {}),
      ...(this.auditKey ? { auditKey: this.auditKey } : {}),
      ...(this.auditCheckpoints ? { auditCheckpoints: this.auditCheckpoints } : {}),
      ...(options.trustProxy?.length ? { trustProxy: options.trustProxy } : {}),
      // SCIM's deactivations cut the person's sockets here at once (other instances hear of them from the store).
      scim: {
        rateLimiter: this.store.sharedRateLimiter?.() ?? new InMemoryRateLimiter(), afterChange: applyControl,
        ...(this.config.scimRoleGroups ? { roleGroups: this.config.scimRoleGroups } : {}),
      },
      blobs: this.blobs, maxBlobTransfersPerDevice: this.config.blobs.maxTransfersPerDevice,
    });
    // A reconnect storm (every workstation at once after a restart) overflows Node's default accept queue of
    // 511: the connects the kernel drops come back on TCP's own schedule (1, 3, 7... s), told nothing.
    const address = await this.#app.listen({ host: options.host, port: options.port, backlog: this.config.admission.listenBacklog });
    this.#startJobs();
    return address;
  }

  /**
   * Applies changes made elsewhere (admin commands, sign-ins on other relay instances) while the relay runs:
   * what it remembers of the account is dropped, and sockets that may no longer act are cut off at once.
   */
  applyControlEvents(): Promise<void> {
    // One pass at a time (the poll and a NOTIFY may both ask), each event done before the next.
    this.#controlPass = this.#controlPass.catch(() => undefined).then(() => this.#applyControlEvents());
    return this.#controlPass;
  }

  async #applyControlEvents(): Promise<void> {
    if (this.#controlReset) {
      this.#controlReset = false;
      const last = (await this.store.controlEvents(0)).at(-1)?.seq ?? 0;
      if (last < this.#controlSeq) this.#controlSeq = last;
    }
    for (const event of await this.store.controlEvents(this.#controlSeq)) {
      // Past an event only once it is applied: one that fails is tried again at the next pass.
      await this.#applyControlEvent(event);
      this.#controlSeq = event.seq;
    }
  }

  async #applyControlEvent(event: ControlEvent): Promise<void> {
    this.accounts.credentials.forget(event.userId);
    this.messages.forget(event.userId);
    switch (event.kind) {
      case 'device.revoked':
      case 'account.deactivated':
        this.hub.disconnect(event.userId, event.deviceId);
        break;
      case 'credential.replaced': {
        // Only sockets that authenticated with an older credential: the new sign-in's may be open here already.
        const device = event.deviceId === null ? undefined : await this.store.device(event.userId, event.deviceId);
        this.hub.disconnect(event.userId, event.deviceId, device && device.revokedAt === null ? { credentialHash: device.credentialHash } : undefined);
        break;
      }
      case 'device.added':
        break;
      default: {
        // A kind from a newer relay sharing the database (an upgrade under way): what it drops is dropped above;
        // stopping here would stop this instance applying every later revocation.
        const unknown: never = event.kind;
        this.log(`control event of a kind this relay does not know (${String(unknown)}): skipped`, 'warn');
      }
    }
  }

  /** Deletes envelopes, finished escalations and acknowledgements past retention, old control events, and deactivates accounts unused for too long. */
  async housekeeping(): Promise<void> {
    const cutoff = this.clock.now() - this.config.retentionDays * DAY_MS;
    await this.store.expireEnvelopes(cutoff, (count) => ({ type: 'envelope.expired', actor: 'system', subject: '', details: { count, retentionDays: this.config.retentionDays } }));
    await this.blobs.expire();
    await this.store.escalations.purge(cutoff, (counts) => ({ type: 'escalation.purged', actor: 'system', subject: '', details: { ...counts, retentionDays: this.config.retentionDays } }));
    await this.accounts.deactivateInactive();
    // A SCIM token near its end (SCIM_TOKEN_WARN_DAYS) is said once a day: provisioning stops when it expires.
    for (const line of this.#scimTokenWarnings.due(await this.store.scim.tokens(), this.clock.now())) this.log(line, 'warn');
    // Roles taken out of scim.roleGroups, or mapped since the last SCIM change, follow the config. A config without a
    // scim section changes nothing (an instance configured apart from the others must not undo their holders), and a
    // failure here is logged: the rest of the housekeeping still runs.
    const scimRoleGroups = this.config.scimRoleGroups;
    if (scimRoleGroups) {
      await syncScimRoleGroups(this.store, scimRoleGroups, SCIM_CONFIG_PASS, this.clock.now(), true).then(
        (result) => this.#logRoleGroups('SCIM', result),
        (error: unknown) => this.log(`SCIM role groups: not brought up to date: ${describeError(error)}`, 'error'),
      );
    }
    await this.applyControlEvents();
    // Every instance applies control events within a second or so: a day's are more than enough to keep.
    await this.store.pruneControlEvents(this.clock.now() - DAY_MS);
  }

  /**
   * One LDAP directory sync (config.ldapSync), as the relay's timer runs it: the outcome is logged, never
   * thrown (a directory out of reach must not stop the relay; the next run tries again). A run another
   * relay instance or an admin command is making already is left to it.
   */
  async syncDirectory(): Promise<void> {
    const ldap = this.config.ldapSync;
    if (!ldap || this.#closing) return;
    let sync: typeof import('./directory/LdapSync') | undefined;
    try {
      // Loaded on the first run: a relay without LDAP never holds the LDAP client (a failed load is logged as a failed run).
      sync = await import('./directory/LdapSync');
      const result = await sync.syncFromLdap(this.store, ldap, { clock: this.clock, requestedBy: 'relay' });
      const refused = result.refusals.map((r) => `${r.username} (${r.reason})`).join('; ');
      this.log(`directory sync ${result.runId}: ${sync.describeSyncCounts(result.counts)}${refused ? `; refused: ${refused}` : ''}`, result.counts.refused > 0 ? 'warn' : 'info');
      this.#logRoleGroups('LDAP', result.roles);
    } catch (error) {
      if (sync && error instanceof sync.DirectorySyncRefused && error.code === 'DIRECTORY_SYNC_BUSY') this.log(`directory sync: ${error.message}`, 'info');
      else this.log(`directory sync failed: ${describeError(error)}`, 'error');
    }
  }

  /** What an update of directory role groups changed, on the log; a mapped role that does not exist, as a warning. */
  #logRoleGroups(source: 'SCIM' | 'LDAP', result: RoleGroupSyncResult): void {
    for (const c of result.changed) this.log(`${source} role groups: role ${c.role}: ${c.added} standing holders added, ${c.ended} ended`, 'info');
    if (result.missingRoles.length > 0) this.log(`${source} role groups: no role named ${result.missingRoles.join(', ')} (create it with rounds-server role create)`, 'warn');
    for (const t of result.tooManyMembers) this.log(`${source} role groups: role ${t.role}: its groups have ${t.members} members, more than a message to a role reaches (${MAX_ROLE_HOLDERS}); nobody new was added (those who left the groups no longer hold it)`, 'warn');
    for (const key of result.ambiguousGroups ?? []) this.log(`${source} role groups: "${key}" matches more than one group (a displayName and another group's externalId): it grants nothing until it names one group`, 'warn');
  }

  /**
   * Serves the Prometheus metrics on a listener of their own (`serve --metrics-port`); resolves with their
   * URL. It closes with the relay.
   */
  async listenMetrics(host: string, port: number): Promise<string> {
    this.#metricsListener = await MetricsListener.start(await this.metrics.registry(), host, port);
    return this.#metricsListener.url;
  }

  async close(): Promise<void> {
    // From here /readyz says so, and the load balancer sends new clients to the other instances.
    this.#closing = true;
    await this.#metricsListener?.close();
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    this.presenceAnnouncements.stop();
    this.hub.closeAll();
    await this.#app?.close();
    // Refusal episodes still open are audited now: a stop must not lose their records.
    await this.messages.refusals.closeAll().catch((error: unknown) => this.log(`auditing refusals failed: ${describeError(error)}`, 'error'));
    await this.#directorySync;
    await this.store.close();
  }

  #startJobs(): void {
    const every = (ms: number, job: () => Promise<void>) => {
      const timer = setInterval(() => void job().catch((error: unknown) => this.log(`job failed: ${describeError(error)}`, 'error')), ms);
      timer.unref();
      this.#timers.push(timer);
    };
    every(500, () => this.applyControlEvents());
    // Escalation rungs fall due to the second; every instance may release (each rung once: EscalationStore).
    every(ESCALATION_TICK_MS, async () => void (await this.escalations.releaseDue()));
    // Shared with other instances: a safety net under the store's news (a pump that failed while the database
    // was out of reach, news lost with a connection): every socket here reads its queue again now and then.
    if (this.store.subscribe) every(RESYNC_MS, async () => this.hub.resync());
    every(Math.min(60_000, Math.max(1000, this.config.refusalEpisodeQuietMs / 2)), () => this.messages.sweepLimits());
    every(3600_000, () => this.housekeeping());
    // The audit log's tree keeps up with the log (exports then hash only the last minute's records).
    every(60_000, async () => void (await growAuditTree(this.store, { page: 1000, between: () => new Promise((resolve) => setImmediate(resolve)) })));
    void this.housekeeping().catch((error: unknown) => this.log(`housekeeping failed: ${describeError(error)}`, 'error'));
    if (this.config.ldapSync) this.#startDirectorySync(this.config.ldapSync.syncIntervalMinutes * 60_000);
  }

  /** Syncs from the directory every `intervalMs`, the first time shortly after start; a run still going is not overlapped. */
  #startDirectorySync(intervalMs: number): void {
    const run = () => {
      this.#directorySync ??= this.syncDirectory().finally(() => (this.#directorySync = undefined));
    };
    const first = setTimeout(run, Math.min(FIRST_DIRECTORY_SYNC_MS, intervalMs));
    first.unref();
    const timer = setInterval(run, intervalMs);
    timer.unref();
    this.#timers.push(first, timer);
  }

  #loadTls(options: ServeOptions): { key: Buffer; cert: Buffer } {
    if (!options.tlsCert || !options.tlsKey) throw new ConfigurationError('TLS needs both --tls-cert and --tls-key');
    try {
      return { cert: readFileSync(options.tlsCert), key: readFileSync(options.tlsKey) };
    } catch (error) {
      throw new ConfigurationError(`cannot read the TLS files: ${describeError(error)}`);
    }
  }
}
