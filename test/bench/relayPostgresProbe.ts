/**
 * The relay on PostgreSQL, saturated, alone (issue 17), for A/B runs: `npx tsx test/bench/relayPostgresProbe.ts [runs]`
 * starts one cluster with the bench's 100 devices, then runs one relay instance saturated (the bench's 50 pairs,
 * 1,000 in flight) `runs` times, and prints the rate and the CPU a message of the relay and of PostgreSQL.
 * RELAY_PROBE_BUNDLES=DIR,DIR,... alternates relay bundles built earlier, RELAY_PROBE_FLAGS='FLAGS|FLAGS|...' alternates
 * Node options added after the unit's (as RELAY_BENCH_NODE_FLAGS): every combination once a run, in turn.
 * With RELAY_PROBE_SQLITE=1 SQLite's relay runs the same shape in every round too, for the ratio of the goal, with the
 * unit's Node options only, or RELAY_PROBE_SQLITE_FLAGS added after them, and this build, or RELAY_PROBE_SQLITE_BUNDLE.
 * RELAY_PROBE_WARMUPS=MS,MS,... alternates warm-ups (the bench's 1,500 ms by default) as further variants, for
 * what a relay that has run a while (its code compiled, its caches full) spends against a fresh one.
 * For comparing builds and settings, not for the bench's figures.
 */
import { pinThisProcess, raiseOpenFileLimit } from './benchMachine';
import { POSTGRES, PostgresBench, relaysOf } from './postgresSystem';
import { RoundsSystem, realCiphertext } from './relayLoad';
import { saturatedRun, withDevices, withServer } from './relayShapes';
import type { BenchSystem } from './loadRun';

const DEVICES = 100;
const IN_FLIGHT = 1000;
const TIMES = { warmupMs: 1500, saturatedMs: 4000, fixedMs: 0 };
const warmups = process.env.RELAY_PROBE_WARMUPS?.split(',').map(Number) ?? [TIMES.warmupMs];
const runs = Number(process.argv[2] ?? 4);
const bundles = process.env.RELAY_PROBE_BUNDLES?.split(',') ?? [process.env.RELAY_BENCH_BUNDLE ?? ''];
const flagSets = process.env.RELAY_PROBE_FLAGS?.split('|') ?? [process.env.RELAY_BENCH_NODE_FLAGS ?? ''];
const variants = bundles.flatMap((bundle) => flagSets.flatMap((flags) => warmups.map((warmupMs) => ({ bundle, flags, warmupMs }))));

async function saturated(system: BenchSystem, warmupMs = TIMES.warmupMs): Promise<{ rate: number; cpu: Readonly<Record<string, number>> }> {
  const run = await withServer(system, (server) => withDevices(server, DEVICES, (clients) => saturatedRun(server, clients, IN_FLIGHT, { ...TIMES, warmupMs })));
  return { rate: run.rate, cpu: run.componentCpu };
}

raiseOpenFileLimit();
const unpin = pinThisProcess('1');
const bench = await PostgresBench.start(DEVICES);
const sqlite = process.env.RELAY_PROBE_SQLITE === '1' ? await RoundsSystem.create(DEVICES) : undefined;
try {
  const system = bench.system(1, sqlite?.envelopeContent ?? await realCiphertext());
  for (let run = 1; run <= runs; run++) {
    if (sqlite) {
      for (const warmupMs of warmups) {
        // Its own build and options, not the last variant's.
        process.env.RELAY_BENCH_BUNDLE = process.env.RELAY_PROBE_SQLITE_BUNDLE ?? '';
        process.env.RELAY_BENCH_NODE_FLAGS = process.env.RELAY_PROBE_SQLITE_FLAGS ?? '';
        const { rate, cpu } = await saturated(sqlite, warmupMs);
        console.log(`run ${run} SQLite${warmups.length > 1 ? `, warm-up ${warmupMs} ms` : ''}: ${Math.round(rate)} msg/s, relay ${Math.round((relaysOf(cpu) * 1e6) / rate)} µs a message`);
      }
    }
    // Each run starts with the next variant, so that none always follows SQLite's run.
    const order = [...variants.slice((run - 1) % variants.length), ...variants.slice(0, (run - 1) % variants.length)];
    for (const { bundle, flags, warmupMs } of order) {
      process.env.RELAY_BENCH_BUNDLE = bundle;
      process.env.RELAY_BENCH_NODE_FLAGS = flags;
      const { rate, cpu } = await saturated(system, warmupMs);
      const micros = (share: number) => Math.round((share * 1e6) / rate);
      console.log(`run ${run} PostgreSQL, ${bundle || 'this build'}${flags ? ` ${flags}` : ''}${warmups.length > 1 ? `, warm-up ${warmupMs} ms` : ''}: ${Math.round(rate)} msg/s, a message: relay ${micros(relaysOf(cpu))} µs, PostgreSQL ${micros(cpu[POSTGRES] ?? Number.NaN)} µs`);
    }
  }
} finally {
  sqlite?.dispose();
  await bench.stop();
  unpin();
}
