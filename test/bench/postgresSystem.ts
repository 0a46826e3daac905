/**
 * The Rounds relay on PostgreSQL as a system under benchmark (issue 17). One throwaway cluster
 * (test/fixtures/postgres.ts) for the whole bench, pinned with the relays to core 0; a template database
 * migrated and provisioned once; for every run a fresh database cloned from it (CREATE DATABASE … TEMPLATE,
 * as RoundsSystem copies its template data directory) and `instances` relay processes on it, each with its
 * own data directory holding the one org audit key (docs/deployment.md: copied to every instance).
 * Each relay has the systemd unit's environment and the drop-in the guide adds on a site's relay machines
 * (deploy/rounds-relay-postgres.conf: a larger young generation).
 *
 * Device i connects to instance i mod `instances`. The shapes pair device i with device i + 50 (100 devices),
 * and 50 mod 3 = 2: with three instances every message crosses instances, accepted by the sender's and
 * delivered by the recipient's, woken by PostgreSQL's NOTIFY.
 *
 * The database password is a secret of a throwaway cluster; it goes to the relays in a file, never logged.
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import pg from 'pg';
import { loadOrCreateAuditKey } from '../../server/audit/auditKey';
import { systemClock } from '../../server/Clock';
import { PostgresDatabase } from '../../server/storage/postgres/PostgresDatabase';
import { PostgresRelayStore } from '../../server/storage/postgres/PostgresRelayStore';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';
import { startPostgres, type TestPostgres } from '../fixtures/postgres';
import { POSTGRES_DROP_IN, pinProcessTree, processCpuMs, processTreeCpuMs } from './benchMachine';
import type { BenchSystem, ServerUnderTest } from './loadRun';
import { LoadSocket, provisionStore, startBenchRelay, storeOffline, type BenchDevice, type BenchRelay } from './relayLoad';

/**
 * RELAY_BENCH_PG_STATEMENTS=1: PostgreSQL counts each statement (pg_stat_statements, which costs it a little
 * CPU), and every fixed-rate run lists the statements a message makes. For profiling, not for figures.
 */
const COUNT_STATEMENTS = process.env.RELAY_BENCH_PG_STATEMENTS === '1';
/** Counters named with this prefix are one statement's calls (listed in the log, not given rows). */
export const STATEMENT_CALLS = 'calls: ';

/** The component name of PostgreSQL's processes in the CPU figures. */
export const POSTGRES = 'postgres';
/** The component name of relay instance `n` (1-based). */
export const relayComponent = (n: number): string => `relay ${n}`;

/** The relays' part of a CPU figure by component (every component but PostgreSQL). */
export function relaysOf(byComponent: Readonly<Record<string, number>>): number {
  return Object.entries(byComponent).filter(([name]) => name !== POSTGRES).reduce((sum, [, value]) => sum + value, 0);
}

/** The CPU one round trip costs, µs: in the client (node-postgres) and in PostgreSQL. */
export interface RoundTripCost {
  readonly clientMicros: number;
  readonly postgresMicros: number;
}

/** The cluster, the template database with the accounts, and what every run's database is cloned from. */
export class PostgresBench {
  private constructor(
    private readonly server: TestPostgres,
    private readonly admin: pg.Client,
    private readonly template: string,
    private readonly auditTemplate: string,
    readonly devices: readonly BenchDevice[],
    /** Whether PostgreSQL runs on core 0 with the relays (false: taskset or a second core is missing). */
    readonly pinned: boolean,
  ) {}

  /** Starts the cluster (pinned to core 0 where possible) and provisions `deviceCount` devices in the template database. */
  static async start(deviceCount: number): Promise<PostgresBench> {
    const server = await startPostgres(COUNT_STATEMENTS ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' } : {});
    const cleanups: (() => unknown)[] = [() => server.stop()];
    try {
      const pinned = pinProcessTree(server.pid, '0');
      const url = await server.newDatabase();
      const db = PostgresDatabase.connect({ url, password: server.password });
      await db.migrate();
      const store = await PostgresRelayStore.open(db, systemClock);
      let devices: BenchDevice[];
      try {
        devices = await provisionStore(store, deviceCount);
      } finally {
        // Closes the pool too: a database is cloned only while nobody is connected to it.
        await store.close();
      }
      const admin = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'rounds', password: server.password, database: 'postgres' });
      await admin.connect();
      cleanups.unshift(() => admin.end());
      if (COUNT_STATEMENTS) await admin.query('CREATE EXTENSION pg_stat_statements');
      const auditTemplate = tempDataDir();
      cleanups.push(() => removeDir(auditTemplate));
      loadOrCreateAuditKey(auditTemplate);
      return new PostgresBench(server, admin, new URL(url).pathname.slice(1), auditTemplate, devices, pinned);
    } catch (error) {
      for (const cleanup of cleanups) await cleanup();
      throw error;
    }
  }

  /** `instances` relays on one database: a system for the shapes of relayShapes.ts. */
  system(instances: number, content: string): BenchSystem {
    return {
      name: `rounds on PostgreSQL, ${instances} instance${instances === 1 ? '' : 's'}`,
      deviceCount: this.devices.length,
      start: () => this.#start(instances, content),
      dispose: () => undefined,
    };
  }

  /**
   * The price of one round trip on its own: `count` queries (`SELECT $1::int`, the smallest that goes through
   * the extended protocol as the relay's do) from this process (the load client's core) over one connection,
   * each awaited; the CPU per query of this client (node-postgres) and of PostgreSQL, µs.
   */
  async roundTripCost(count = 2000): Promise<RoundTripCost> {
    for (let i = 0; i < count / 10; i++) await this.admin.query('SELECT $1::int', [i]);
    const postgres = processTreeCpuMs(this.server.pid);
    const client = process.cpuUsage();
    for (let i = 0; i < count; i++) await this.admin.query('SELECT $1::int', [i]);
    const used = process.cpuUsage(client);
    return { clientMicros: (used.user + used.system) / count, postgresMicros: ((processTreeCpuMs(this.server.pid) - postgres) * 1000) / count };
  }

  async stop(): Promise<void> {
    await this.admin.end();
    await this.server.stop();
    removeDir(this.auditTemplate);
  }

  async #start(instances: number, content: string): Promise<ServerUnderTest> {
    const database = `run_${randomBytes(6).toString('hex')}`;
    await this.admin.query(`CREATE DATABASE ${database} TEMPLATE ${this.template} OWNER rounds`);
    const url = `postgres://rounds@127.0.0.1:${this.server.port}/${database}`;
    const relays: BenchRelay[] = [];
    const stop = async () => {
      for (const relay of relays) {
        await relay.stop();
        removeDir(relay.dataDir);
      }
      await this.admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    };
    try {
      for (let n = 0; n < instances; n++) {
        const dataDir = tempDataDir();
        cpSync(this.auditTemplate, dataDir, { recursive: true });
        try {
          relays.push(await startBenchRelay(dataDir, ['--database', url, '--database-password-file', this.server.passwordFile], [POSTGRES_DROP_IN]));
        } catch (error) {
          removeDir(dataDir);
          throw error;
        }
      }
    } catch (error) {
      await stop();
      throw error;
    }
    return {
      pid: relays[0]!.pid,
      exited: Promise.race(relays.map((relay) => relay.exited)),
      connect: (index, onMessage) => LoadSocket.connect(relays[index % relays.length]!.url, this.devices, index, content, onMessage),
      storeOffline: (from, to, count) => storeOffline(from as LoadSocket, to, count),
      cpuMsByComponent: () => ({
        ...Object.fromEntries(relays.map((relay, n) => [relayComponent(n + 1), processCpuMs(relay.pid)])),
        [POSTGRES]: processTreeCpuMs(this.server.pid),
      }),
      counters: () => this.#counters(),
      stop,
    };
  }

  /**
   * Running totals of the cluster while one run's database is the only one in use: transaction ids handed
   * out (write transactions), WAL written (bytes), and the data segments PostgreSQL's sockets have received
   * (`ss`): node-postgres sends each query in one write and waits for its answer, so about one round trip each.
   */
  async #counters(): Promise<Record<string, number>> {
    const row = (await this.admin.query<{ xid: string; wal: string }>(`SELECT txid_snapshot_xmax(txid_current_snapshot())::text AS xid, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS wal`)).rows[0];
    return { 'write transactions': Number(row?.xid), 'WAL bytes': Number(row?.wal), 'round trips': segmentsReceived(this.server.port), ...await this.#statementCalls() };
  }

  /** With COUNT_STATEMENTS, each statement's calls so far in the run databases (the text shortened), by STATEMENT_CALLS + text. */
  async #statementCalls(): Promise<Record<string, number>> {
    if (!COUNT_STATEMENTS) return {};
    const rows = (await this.admin.query<{ query: string; calls: string }>(`SELECT left(regexp_replace(s.query, '\\s+', ' ', 'g'), 90) AS query, sum(s.calls)::text AS calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname LIKE 'run\\_%' GROUP BY 1`)).rows;
    return Object.fromEntries(rows.map((r) => [`${STATEMENT_CALLS}${r.query}`, Number(r.calls)]));
  }
}

/** Data segments received so far by the established TCP connections on local port `port` (`ss -ti`), NaN without `ss`. */
function segmentsReceived(port: number): number {
  const listed = spawnSync('ss', ['-tinH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  if (listed.status !== 0) return Number.NaN;
  return [...listed.stdout.matchAll(/\bdata_segs_in:(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
}
