/**
 * The load shapes of the relay benchmark, written once against `ServerUnderTest` so that the Rounds
 * relay and Prosody run exactly the same ones: saturated throughput, a fixed rate (latency, server CPU
 * per message, resident memory), and a burst to an offline device drained on connect.
 */
import { performance } from 'node:perf_hooks';
import { loadClientCpu, processCpuMs, residentMiB } from './benchMachine';
import { DRAIN_MAX_MS, LatencyTracker, RefusedSocket, retryAfterWaitMs, sleep, within, type BenchClient, type BenchSystem, type ServerUnderTest } from './loadRun';

/** A device the relay keeps shedding after this many tries fails the run. */
const MAX_CONNECT_ATTEMPTS = 10;

export interface RunTimes {
  readonly warmupMs: number;
  readonly saturatedMs: number;
  readonly fixedMs: number;
}

export interface SaturatedRun {
  readonly rate: number;
  readonly p99: number;
  /** Resident memory of the server with every device connected before the first message, and at the end, MiB. */
  readonly idleResidentMiB: number;
  readonly residentMiB: number;
  /** CPU of the server (every component together) and of the load client while measuring, each as a share of one core. */
  readonly serverCpu: number;
  readonly loadCpu: number;
  /** The server's CPU by component (`server` for a single process), each as a share of one core. */
  readonly componentCpu: Readonly<Record<string, number>>;
}

export interface FixedRateRun {
  readonly p50: number;
  readonly p99: number;
  /** Server CPU time (user + system, every component together) per 1,000 messages sent while measuring, ms. */
  readonly serverCpuMsPer1000: number;
  /** The same by component (`server` for a single process). */
  readonly componentCpuMsPer1000: Readonly<Record<string, number>>;
  /** The server's `counters` (if any) per message sent while measuring. */
  readonly perMessage: Readonly<Record<string, number>>;
  /** Server resident memory once the run has drained, every device still connected, MiB. */
  readonly residentMiB: number;
  readonly loadCpu: number;
}

export interface OfflineRun {
  /** Messages per second until the server had stored the last one. */
  readonly storeRate: number;
  /** From the recipient's connect until its last message arrived, s. */
  readonly drainSeconds: number;
}

/** A fresh server of `system` for one run; the run fails at once if the server exits under it. */
export async function withServer<T>(system: BenchSystem, run: (server: ServerUnderTest) => Promise<T>): Promise<T> {
  const server = await system.start();
  try {
    return await Promise.race([run(server), server.exited]);
  } finally {
    await server.stop();
  }
}

/** Connects device `index`; a socket refused with Retry-After (the relay shedding a burst) is tried again after it, as the app does. */
async function connectWhenAdmitted(server: ServerUnderTest, index: number): Promise<BenchClient> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await server.connect(index);
    } catch (error) {
      if (!(error instanceof RefusedSocket) || error.retryAfterSeconds === undefined || attempt === MAX_CONNECT_ATTEMPTS) throw error;
      await sleep(retryAfterWaitMs(error.retryAfterSeconds));
    }
  }
}

/** Connects devices 0 .. count - 1 (50 at a time), runs, fails on any client error, then drops them all. */
export async function withDevices<T>(server: ServerUnderTest, count: number, run: (clients: BenchClient[]) => Promise<T>): Promise<T> {
  const clients: BenchClient[] = [];
  const clientErrors = () => {
    const errors = clients.flatMap((c) => c.errors);
    return errors.length === 0 ? '' : ` (${errors.length} client errors, first: ${errors[0]})`;
  };
  try {
    for (let i = 0; i < count; i += 50) {
      const indexes = Array.from({ length: Math.min(50, count - i) }, (_, k) => i + k);
      clients.push(...await Promise.all(indexes.map((index) => connectWhenAdmitted(server, index))));
    }
    const result = await run(clients).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}${clientErrors()}`);
    });
    if (clientErrors()) throw new Error(`the server refused messages or dropped connections${clientErrors()}`);
    return result;
  } finally {
    for (const client of clients) client.terminate();
  }
}

/**
 * Throughput: device i sends to device i + pairs, each sender keeping its share of `inFlight` messages
 * under way (a delivery lets its sender send the next). Counts deliveries after a warm-up, which lasts
 * until the first `inFlight` messages have arrived too (a server slower than the warm-up is still taking
 * the opening burst). The p99 is of every message sent while measuring, waited for after the window.
 */
export async function saturatedRun(server: ServerUnderTest, clients: readonly BenchClient[], inFlight: number, times: RunTimes): Promise<SaturatedRun> {
  const pairs = clients.length / 2;
  const idleResidentMiB = residentMiB(server.pid);
  const window = Math.max(1, Math.round(inFlight / pairs));
  const tracker = new LatencyTracker();
  let running = true;
  const sendFrom = (pair: number) => tracker.send(clients[pair]!, pair + pairs);
  for (let pair = 0; pair < pairs; pair++) {
    clients[pair + pairs]!.onMessage = (id, at) => {
      if (tracker.arrived(id, at) && running) sendFrom(pair);
    };
    for (let i = 0; i < window; i++) sendFrom(pair);
  }
  await sleep(times.warmupMs);
  await within((async () => {
    while (tracker.arrivals < inFlight) await sleep(10);
  })(), DRAIN_MAX_MS, 'the first messages in flight arriving');
  tracker.startMeasuring();
  const serverCpu = cpuWindow(server);
  const loadCpu = loadClientCpu();
  await sleep(times.saturatedMs);
  const cpu = serverCpu();
  const share = (ms: number) => ms / cpu.elapsedMs;
  const { rate } = tracker.result();
  const result = { rate, serverCpu: share(cpu.totalMs), componentCpu: mapValues(cpu.ms, share), loadCpu: loadCpu() };
  running = false;
  await tracker.drained();
  return { ...result, p99: tracker.result().p99, idleResidentMiB, residentMiB: residentMiB(server.pid) };
}

/** Which device sends the `n`th message of a run, and to which. */
export type Route = (n: number) => readonly [from: number, to: number];

/** Device i sends to device i + pairs, round-robin over the pairs. */
export const roundRobinPairs = (devices: number): Route => (n) => [n % (devices / 2), (n % (devices / 2)) + devices / 2];

/** Latency: `rate` messages per second (round-robin over the pairs unless `route` says otherwise), for a warm-up then `times.fixedMs`. */
export async function fixedRateRun(server: ServerUnderTest, clients: readonly BenchClient[], rate: number, times: RunTimes, route: Route = roundRobinPairs(clients.length)): Promise<FixedRateRun> {
  const tracker = new LatencyTracker();
  for (const client of clients) client.onMessage = (id, at) => void tracker.arrived(id, at);
  const total = Math.round((rate * (times.warmupMs + times.fixedMs)) / 1000);
  const start = performance.now();
  let sent = 0;
  let measured: { sent: number; cpu: () => CpuWindow; counters: Readonly<Record<string, number>>; loadCpu: () => number } | undefined;
  while (sent < total) {
    const elapsed = performance.now() - start;
    if (!measured && elapsed >= times.warmupMs) {
      tracker.startMeasuring();
      measured = { sent, cpu: cpuWindow(server), counters: (await server.counters?.()) ?? {}, loadCpu: loadClientCpu() };
    }
    const due = Math.min(total, Math.floor((elapsed * rate) / 1000));
    for (; sent < due; sent++) {
      const [from, to] = route(sent);
      tracker.send(clients[from]!, to);
    }
    await sleep(1);
  }
  if (!measured) throw new Error('the fixed-rate run ended before its warm-up did');
  const cpu = measured.cpu();
  const counters = (await server.counters?.()) ?? {};
  const messages = sent - measured.sent;
  const loadCpu = measured.loadCpu();
  await tracker.drained();
  const { p50, p99 } = tracker.result();
  const before = measured.counters;
  return {
    p50, p99, residentMiB: residentMiB(server.pid), loadCpu,
    serverCpuMsPer1000: (cpu.totalMs * 1000) / messages,
    componentCpuMsPer1000: mapValues(cpu.ms, (ms) => (ms * 1000) / messages),
    perMessage: Object.fromEntries(Object.entries(counters).map(([name, value]) => [name, (value - (before[name] ?? Number.NaN)) / messages])),
  };
}

/**
 * Offline store: device 0 sends `count` messages to device 1, which is not connected, timed until the
 * server has stored the last; then device 1 connects and is timed until the last message arrives (for the
 * relay not until `queueEmpty`, which it may send while more is queued).
 */
export async function offlineRun(server: ServerUnderTest, count: number): Promise<OfflineRun> {
  return withDevices(server, 1, async ([sender]) => {
    const start = performance.now();
    await server.storeOffline(sender!, 1, count);
    const storeRate = count / ((performance.now() - start) / 1000);

    const connectStart = performance.now();
    const seen = new Set<string>();
    let lastArrival = 0;
    const recipient = await server.connect(1, (id, at) => {
      if (seen.has(id)) return;
      seen.add(id);
      lastArrival = at;
    });
    try {
      await within((async () => {
        while (seen.size < count) await sleep(5);
      })(), DRAIN_MAX_MS, 'delivering the offline messages');
    } finally {
      recipient.terminate();
    }
    return { storeRate, drainSeconds: (lastArrival - connectStart) / 1000 };
  });
}

/** A share of one core (0.5) as a percentage for the log (50 %). */
export function percent(share: number): string {
  return `${Math.round(share * 100)} %`;
}

/** The server's CPU over a window: ms by component, their sum, and the window's length in ms. */
interface CpuWindow {
  readonly ms: Readonly<Record<string, number>>;
  readonly totalMs: number;
  readonly elapsedMs: number;
}

/** CPU time of the server's components so far, ms: its own `cpuMsByComponent`, or process `pid` alone as `server`. */
function componentCpuMs(server: ServerUnderTest): Readonly<Record<string, number>> {
  return server.cpuMsByComponent?.() ?? { server: processCpuMs(server.pid) };
}

/** The server's CPU from now until the returned function is called. */
function cpuWindow(server: ServerUnderTest): () => CpuWindow {
  const before = componentCpuMs(server);
  const startedAt = performance.now();
  return () => {
    const ms = mapValues(componentCpuMs(server), (after, name) => after - (before[name] ?? Number.NaN));
    return { ms, totalMs: Object.values(ms).reduce((a, b) => a + b, 0), elapsedMs: performance.now() - startedAt };
  };
}

function mapValues(record: Readonly<Record<string, number>>, fn: (value: number, name: string) => number): Record<string, number> {
  return Object.fromEntries(Object.entries(record).map(([name, value]) => [name, fn(value, name)]));
}
