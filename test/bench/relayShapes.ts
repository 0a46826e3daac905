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
  /** CPU of the server and of the load client while measuring, each as a share of one core. */
  readonly serverCpu: number;
  readonly loadCpu: number;
}

export interface FixedRateRun {
  readonly p50: number;
  readonly p99: number;
  /** Server CPU time (user + system) per 1,000 messages sent while measuring, ms. */
  readonly serverCpuMsPer1000: number;
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
 * under way (a delivery lets its sender send the next). Counts deliveries after a warm-up.
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
  tracker.startMeasuring();
  const serverCpu = serverCpuShare(server.pid);
  const loadCpu = loadClientCpu();
  await sleep(times.saturatedMs);
  const result = { ...tracker.result(), serverCpu: serverCpu(), loadCpu: loadCpu() };
  running = false;
  await tracker.drained();
  return { ...result, idleResidentMiB, residentMiB: residentMiB(server.pid) };
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
  let measured: { sent: number; cpuMs: number; loadCpu: () => number } | undefined;
  while (sent < total) {
    const elapsed = performance.now() - start;
    if (!measured && elapsed >= times.warmupMs) {
      tracker.startMeasuring();
      measured = { sent, cpuMs: processCpuMs(server.pid), loadCpu: loadClientCpu() };
    }
    const due = Math.min(total, Math.floor((elapsed * rate) / 1000));
    for (; sent < due; sent++) {
      const [from, to] = route(sent);
      tracker.send(clients[from]!, to);
    }
    await sleep(1);
  }
  const cpuMs = processCpuMs(server.pid) - (measured?.cpuMs ?? Number.NaN);
  const messages = sent - (measured?.sent ?? Number.NaN);
  const loadCpu = measured?.loadCpu() ?? Number.NaN;
  await tracker.drained();
  const { p50, p99 } = tracker.result();
  return { p50, p99, serverCpuMsPer1000: (cpuMs * 1000) / messages, residentMiB: residentMiB(server.pid), loadCpu };
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

/** CPU of process `pid` from now until the returned function is called, as a share of one core. */
function serverCpuShare(pid: number): () => number {
  const cpuMs = processCpuMs(pid);
  const startedAt = performance.now();
  return () => (processCpuMs(pid) - cpuMs) / (performance.now() - startedAt);
}
