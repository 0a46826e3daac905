/**
 * The relay on PostgreSQL (issue 17), in the shapes of the single-node rows: 100 devices saturated (msg/s,
 * p99) and at a fixed 500 msg/s (p50, p99, CPU per 1,000 messages), with one relay instance and with three
 * on one database. Everything runs on this machine's core 0 (relays and PostgreSQL; the load client on core
 * 1), so three instances cannot be faster here: the figures that carry over to a hospital's machines are
 * the CPU per message of each component, from which the sizing rows are worked out.
 *
 * Knob: RELAY_BENCH_POSTGRES=0 skips these rows; without PostgreSQL installed they are skipped with the reason.
 */
import { postgresUnavailable } from '../fixtures/postgres';
import type { BenchSystem } from './loadRun';
import { median, type BenchRow } from './measure';
import { pinThisProcess } from './benchMachine';
import { POSTGRES, PostgresBench, STATEMENT_CALLS, relaysOf, type RoundTripCost } from './postgresSystem';
import { fixedRateRun, percent, saturatedRun, withDevices, withServer, type FixedRateRun, type RunTimes, type SaturatedRun } from './relayShapes';
import { sizingRows } from './relayPostgresSizing';

const SUITE = 'relay';
/** Issue 17's goals: one instance at least this share of SQLite's saturated rate; crossing instances adds less than this at p50. */
const THROUGHPUT_SHARE_GOAL = 0.7;
const CROSSING_P50_GOAL_MS = 2;
const INSTANCES = [1, 3] as const;
/**
 * A ward's pace: every run also measures latency at this rate, where nothing queues on this machine's one
 * core for PostgreSQL and the relays, so that what crossing instances adds (NOTIFY, the other instance's
 * read) is not mixed with queueing. Where the fixed rate is not sustainable, the fixed shape runs at LOW_RATE
 * too (the same for one instance and three), or at PROFILE_SHARE of the saturated rate if that is lower.
 */
const LOW_RATE = 50;
const PROFILE_SHARE = 0.5;

export interface PostgresShapes {
  readonly devices: number;
  readonly inFlight: number;
  readonly fixedRate: number;
  /** A fixed rate above this share of the saturated rate is not run (its latency would only measure the backlog). */
  readonly sustainableShare: number;
  readonly runs: number;
  readonly times: RunTimes;
  /** The real ciphertext every envelope carries (base64). */
  readonly content: string;
}

/** The single-node relay's medians from the same invocation, to compare with. */
export interface SqliteFigures {
  readonly saturatedRate: number;
  readonly fixedP50: number;
  readonly cpuMsPer1000: number;
}

/** A fixed-rate run and its rate: `fixedRate`, or lower where that is not sustainable (then only its CPU figures count). */
type FixedRun = FixedRateRun & { readonly rate: number };

interface Samples {
  readonly saturated: SaturatedRun[];
  readonly fixed: FixedRun[];
  /** At LOW_RATE (latency only), besides a fixed rate above it. */
  readonly ward: FixedRun[];
}

export async function postgresRows(shapes: PostgresShapes, sqlite: SqliteFigures): Promise<BenchRow[]> {
  if (process.env.RELAY_BENCH_POSTGRES === '0') {
    console.log('  relay on PostgreSQL: skipped (RELAY_BENCH_POSTGRES=0)');
    return [];
  }
  const unavailable = postgresUnavailable();
  if (unavailable) {
    console.log(`  relay on PostgreSQL: skipped: ${unavailable}`);
    return [];
  }
  const bench = await PostgresBench.start(shapes.devices);
  try {
    console.log(`  relay on PostgreSQL: ${bench.pinned ? 'PostgreSQL and the relays on core 0, the load client on core 1' : 'NOT pinned (taskset or a second core is missing): PostgreSQL, the relays and the load client share cores'}; device i on instance i mod n (with 3 instances every message crosses instances)`);
    const samples = new Map<number, Samples>(INSTANCES.map((n) => [n, { saturated: [], fixed: [], ward: [] }]));
    for (let run = 0; run < shapes.runs; run++) {
      const systems = INSTANCES.map((n) => ({ system: bench.system(n, shapes.content), samples: samples.get(n)! }));
      // The relay on PostgreSQL is new: a run that fails is reported and leaves its rows empty, not the whole bench.
      const failed = (name: string) => (error: unknown) => console.log(`  run ${run + 1}, ${name}: FAILED: ${(error as Error).message}`);
      const rates: number[] = [];
      for (const { system, samples: into } of systems) await measureSaturated(system, shapes, into, run).then((rate) => rates.push(rate), failed(system.name));
      const rate = fixedRateFor(shapes, rates);
      for (const { system, samples: into } of systems) await measureFixed(system, shapes, rate, into.fixed, run).catch(failed(system.name));
      if (rate > LOW_RATE) for (const { system, samples: into } of systems) await measureFixed(system, shapes, LOW_RATE, into.ward, run).catch(failed(system.name));
    }
    const [one, three] = INSTANCES.map((n) => samples.get(n)!) as [Samples, Samples];
    const rows = [...systemRows(`PostgreSQL, 1 instance`, one, shapes), ...systemRows(`PostgreSQL, 3 instances (every message crosses)`, three, shapes)];
    rows.push(...goalRows(one, three, sqlite, shapes));
    const otherCore = await bench.roundTripCost();
    // The relays share PostgreSQL's core: each round trip there is also a switch between the two processes.
    const backToCore1 = pinThisProcess('0');
    const sameCore = await bench.roundTripCost().finally(backToCore1);
    rows.push(...profileRows({ sameCore, otherCore }, { '1 instance': one, '3 instances': three }));
    const sizing = sizingRows(SUITE, three.fixed);
    for (const line of sizing.explanation) console.log(`  ${line}`);
    rows.push(...sizing.rows);
    return rows;
  } finally {
    await bench.stop();
  }
}

/** One saturated run on `system`; its rate. */
async function measureSaturated(system: BenchSystem, shapes: PostgresShapes, samples: Samples, run: number): Promise<number> {
  const { devices, inFlight, times } = shapes;
  const saturated = await withServer(system, (server) => withDevices(server, devices, (clients) => saturatedRun(server, clients, inFlight, times)));
  samples.saturated.push(saturated);
  console.log(`  run ${run + 1}, saturated, ${system.name}: ${Math.round(saturated.rate)} msg/s, p99 ${saturated.p99.toFixed(1)} ms, CPU ${shares(saturated.componentCpu)}, load client ${percent(saturated.loadCpu)}`);
  return saturated.rate;
}

/**
 * The rate of this run's fixed shape, the same for every system (so that their p50s compare): the fixed
 * rate where each sustains it, else LOW_RATE, or PROFILE_SHARE of the slowest saturated rate if that is lower.
 */
function fixedRateFor(shapes: PostgresShapes, saturatedRates: readonly number[]): number {
  const slowest = Math.min(...saturatedRates);
  if (shapes.fixedRate <= slowest * shapes.sustainableShare) return shapes.fixedRate;
  const rate = Math.min(LOW_RATE, Math.max(10, 10 * Math.floor((slowest * PROFILE_SHARE) / 10)));
  console.log(`  ${shapes.fixedRate} msg/s is above ${shapes.sustainableShare * 100} % of a saturated rate (${Math.round(slowest)} msg/s): the fixed shape runs at ${rate} msg/s instead`);
  return rate;
}

/** One fixed-rate run on `system` at `rate`: latency, CPU by component, and the profile per message. */
async function measureFixed(system: BenchSystem, shapes: PostgresShapes, rate: number, into: FixedRun[], run: number): Promise<void> {
  const { devices, times } = shapes;
  const fixed = await withServer(system, (server) => withDevices(server, devices, (clients) => fixedRateRun(server, clients, rate, times)));
  into.push({ ...fixed, rate });
  const [statements, totals] = partition(Object.entries(fixed.perMessage), ([name]) => name.startsWith(STATEMENT_CALLS));
  const perMessage = totals.map(([name, value]) => `${value.toFixed(name === 'WAL bytes' ? 0 : 2)} ${name}`).join(', ');
  console.log(`  run ${run + 1}, ${rate} msg/s, ${system.name}: p50 ${fixed.p50.toFixed(2)} ms, p99 ${fixed.p99.toFixed(2)} ms, CPU per 1,000: ${perThousand(fixed.componentCpuMsPer1000)}; per message: ${perMessage}`);
  for (const [name, calls] of statements.filter(([, calls]) => calls >= 0.01).sort((a, b) => b[1] - a[1])) console.log(`    ${calls.toFixed(2)} a message: ${name.slice(STATEMENT_CALLS.length)}`);
}

function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  return [items.filter(test), items.filter((item) => !test(item))];
}

const shares = (cpu: Readonly<Record<string, number>>) => Object.entries(cpu).map(([name, share]) => `${name} ${percent(share)}`).join(', ');
const perThousand = (cpu: Readonly<Record<string, number>>) => Object.entries(cpu).map(([name, ms]) => `${name} ${Math.round(ms)} ms`).join(', ');

/** Median of `figure` over the runs, with each run's figure kept for results.json; NaN (null there) when the shape was not run. */
function figureRow(name: string, unit: string, runs: readonly number[], goal: string): BenchRow {
  return { suite: SUITE, name, unit, ours: runs.length === 0 ? Number.NaN : median(runs), goal, runs: { ours: runs } };
}

function systemRows(label: string, samples: Samples, shapes: PostgresShapes): BenchRow[] {
  const pairs = `${shapes.devices / 2} pairs`;
  const rate = shapes.fixedRate;
  const fixed = (figure: (run: FixedRun) => number) => samples.fixed.map(figure);
  const latency = (at: number, figure: (run: FixedRun) => number) => [...samples.fixed, ...samples.ward].filter((r) => r.rate === at).map(figure);
  const info = latency(rate, (r) => r.p50).length === 0 ? `not run: ${rate} msg/s is above the sustainable share of the saturated rate` : 'informational';
  const lowerRates = [...new Set([...samples.fixed, ...samples.ward].map((r) => r.rate))].filter((r) => r !== rate).sort((a, b) => a - b);
  const rates = [...new Set(samples.fixed.map((r) => r.rate))].join(', ');
  const cpuGoal = (what: string) => `informational: ${what}; at ${rates} msg/s`;
  const components = [...new Set(samples.fixed.flatMap((run) => Object.keys(run.componentCpuMsPer1000)))];
  const counters = [...new Set(samples.fixed.flatMap((run) => Object.keys(run.perMessage)))].filter((name) => !name.startsWith(STATEMENT_CALLS));
  return [
    figureRow(`${label}: saturated, ${pairs}`, 'msg/s', samples.saturated.map((r) => r.rate), 'informational (the goal: the ratio row below)'),
    figureRow(`${label}: latency p99 at saturation (${shapes.inFlight.toLocaleString('en-US')} in flight)`, 'ms', samples.saturated.map((r) => r.p99), 'informational'),
    figureRow(`${label}: relay CPU while saturated`, '% of a core', samples.saturated.map((r) => 100 * relaysOf(r.componentCpu)), 'informational: all instances together'),
    figureRow(`${label}: PostgreSQL CPU while saturated`, '% of a core', samples.saturated.map((r) => 100 * (r.componentCpu[POSTGRES] ?? Number.NaN)), 'informational: postmaster and every backend'),
    figureRow(`${label}: latency p50 at ${rate} msg/s`, 'ms', latency(rate, (r) => r.p50), info),
    figureRow(`${label}: latency p99 at ${rate} msg/s`, 'ms', latency(rate, (r) => r.p99), info),
    ...lowerRates.flatMap((at) => (['p50', 'p99'] as const).map((p) => figureRow(`${label}: latency ${p} at ${at} msg/s`, 'ms', latency(at, (r) => r[p]), `informational: ${at === LOW_RATE ? "a ward's pace, nothing queued" : `${rate} msg/s not sustainable here`}`))),
    figureRow(`${label}: relay CPU per 1,000 messages, fixed rate`, 'ms', fixed((r) => relaysOf(r.componentCpuMsPer1000)), cpuGoal('all instances together')),
    ...components.map((name) => figureRow(`${label}: ${name} CPU per 1,000 messages, fixed rate`, 'ms', fixed((r) => r.componentCpuMsPer1000[name] ?? Number.NaN), cpuGoal('by component'))),
    ...counters.map((name) => figureRow(`${label}: PostgreSQL ${name} per message, fixed rate`, name === 'WAL bytes' ? 'bytes' : 'count', fixed((r) => r.perMessage[name] ?? Number.NaN), cpuGoal('the profile'))),
  ];
}

/**
 * Where a message's CPU goes: the price of one round trip on its own (node-postgres and PostgreSQL), and
 * what the round trips a message makes would cost at that price, against what each side spent a message.
 */
function profileRows(costs: Readonly<Record<'sameCore' | 'otherCore', RoundTripCost>>, systems: Readonly<Record<string, Samples>>): BenchRow[] {
  const where = { sameCore: "on PostgreSQL's core, as the relays here", otherCore: 'from the other core' } as const;
  for (const [key, cost] of Object.entries(costs)) console.log(`  one PostgreSQL round trip alone (node-postgres, SELECT $1, ${where[key as keyof typeof where]}): ${cost.clientMicros.toFixed(0)} µs CPU in the client, ${cost.postgresMicros.toFixed(0)} µs in PostgreSQL`);
  const roundTrip = costs.sameCore;
  for (const [name, samples] of Object.entries(systems)) {
    if (samples.fixed.length === 0) continue;
    const perMessage = (figure: (run: FixedRun) => number) => median(samples.fixed.map(figure));
    const trips = perMessage((r) => r.perMessage['round trips'] ?? Number.NaN);
    const transactions = perMessage((r) => r.perMessage['write transactions'] ?? Number.NaN);
    const relayMicros = perMessage((r) => relaysOf(r.componentCpuMsPer1000));
    const postgresMicros = perMessage((r) => r.componentCpuMsPer1000[POSTGRES] ?? Number.NaN);
    console.log(`  profile, ${name}: a message costs the relay ${relayMicros.toFixed(0)} µs and PostgreSQL ${postgresMicros.toFixed(0)} µs of CPU; it makes ${trips.toFixed(1)} round trips in ${transactions.toFixed(2)} write transactions, which alone would cost about ${(trips * roundTrip.clientMicros).toFixed(0)} µs in the relay and ${(trips * roundTrip.postgresMicros).toFixed(0)} µs in PostgreSQL`);
  }
  const goal = 'informational: multiply by the round trips per message for their share of its CPU';
  return Object.entries(costs).flatMap(([key, cost]) => [
    { suite: SUITE, name: `PostgreSQL: one round trip alone (node-postgres, SELECT $1, ${where[key as keyof typeof where]}): client CPU`, unit: 'µs', ours: cost.clientMicros, goal },
    { suite: SUITE, name: `PostgreSQL: one round trip alone (node-postgres, SELECT $1, ${where[key as keyof typeof where]}): PostgreSQL CPU`, unit: 'µs', ours: cost.postgresMicros, goal },
  ]);
}

/** Issue 17's two goals: throughput against SQLite's in this run, and what crossing instances adds at p50. */
function goalRows(one: Samples, three: Samples, sqlite: SqliteFigures, shapes: PostgresShapes): BenchRow[] {
  const met = (ok: boolean) => (ok ? 'met' : 'not met');
  const share = median(one.saturated.map((r) => r.rate)) / sqlite.saturatedRate;
  // Delivery across instances at a ward's pace (LOW_RATE, where both ran it): what crossing adds, not queueing
  // on this machine's one core for PostgreSQL and three relays. The fixed rate's difference is printed.
  const p50 = (samples: Samples, rate: number) => median([...samples.fixed, ...samples.ward].filter((r) => r.rate === rate).map((r) => r.p50));
  const crossingRate = LOW_RATE;
  const added = p50(three, crossingRate) - p50(one, crossingRate);
  const atFixed = p50(three, shapes.fixedRate) - p50(one, shapes.fixedRate);
  if (!Number.isNaN(atFixed)) console.log(`  crossing instances adds ${atFixed.toFixed(2)} ms at p50 at ${shapes.fixedRate} msg/s (core 0 busy with PostgreSQL and three relays), ${added.toFixed(2)} ms at ${crossingRate} msg/s`);
  console.log(`  PostgreSQL, 1 instance: ${(100 * share).toFixed(0)} % of SQLite's saturated rate (${Math.round(sqlite.saturatedRate)} msg/s); SQLite p50 at ${shapes.fixedRate} msg/s ${sqlite.fixedP50.toFixed(2)} ms, ${Math.round(sqlite.cpuMsPer1000)} ms CPU per 1,000`);
  return [
    { suite: SUITE, name: 'PostgreSQL, 1 instance: saturated rate as a share of SQLite\'s (same run)', unit: '%', ours: 100 * share, goal: `>= ${THROUGHPUT_SHARE_GOAL * 100} % of ${Math.round(sqlite.saturatedRate)} msg/s: ${met(share >= THROUGHPUT_SHARE_GOAL)}` },
    { suite: SUITE, name: `PostgreSQL: p50 added by crossing instances at ${crossingRate} msg/s (3 instances - 1)`, unit: 'ms', ours: added, goal: `< ${CROSSING_P50_GOAL_MS} ms: ${Number.isNaN(added) ? 'not run' : met(added < CROSSING_P50_GOAL_MS)}` },
  ];
}
