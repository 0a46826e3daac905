/**
 * Issue 16's crowd: 10,000 devices connected, mostly idle. The relay's resident memory with all of them
 * connected and idle; its saturated rate with the 100-device shape's 50 pairs busy and the rest idle (what
 * the idle crowd costs), and with the same 1,000 messages in flight between random pairs (each delivery
 * lets a new random pair send: about 0.1 in flight per device, so nothing is batched per recipient); and
 * latency at a fixed rate between random pairs.
 */
import { performance } from 'node:perf_hooks';
import { loadClientCpu, processCpuMs, residentMiB } from './benchMachine';
import { LatencyTracker, sleep, type BenchClient, type ServerUnderTest } from './loadRun';
import { fixedRateRun, saturatedRun, withDevices, type FixedRateRun, type Route, type RunTimes, type SaturatedRun } from './relayShapes';

export interface CrowdRun {
  readonly devices: number;
  /** Connecting every device, 50 at a time, s; the load client's CPU meanwhile, share of a core. */
  readonly connectSeconds: number;
  readonly connectLoadCpu: number;
  /** Relay resident memory with every device connected, before any message, MiB. */
  readonly idleResidentMiB: number;
  /** The 100-device shape's pairs (devices 0 .. pairedDevices - 1) saturated while the rest stay idle. */
  readonly pairedSaturated: SaturatedRun;
  readonly saturated: { readonly rate: number; readonly p99: number; readonly serverCpu: number; readonly loadCpu: number };
  /** At `rate` msg/s between random pairs; undefined when the saturated rate is too low to sustain it. */
  readonly fixed: (FixedRateRun & { readonly rate: number }) | undefined;
}

/** Random sender and recipient (never the same device) among `devices`, from a seeded generator so runs repeat. */
export function randomPairs(devices: number, seed = 16): Route {
  const random = seeded(seed);
  return () => {
    const from = Math.floor(random() * devices);
    const to = (from + 1 + Math.floor(random() * (devices - 1))) % devices;
    return [from, to];
  };
}

/**
 * Connects `devices`, notes the relay's idle memory, runs saturated with `inFlight` messages over the first
 * `pairedDevices` in pairs and then between random pairs, then `rate` msg/s between random pairs if the
 * random-pair saturated rate is at least `rate / sustainableShare`.
 */
export async function crowdRun(server: ServerUnderTest, devices: number, pairedDevices: number, inFlight: number, rate: number, sustainableShare: number, times: RunTimes): Promise<CrowdRun> {
  const connectStart = performance.now();
  const connectCpu = loadClientCpu();
  return withDevices(server, devices, async (clients) => {
    const [connectSeconds, connectLoadCpu] = [(performance.now() - connectStart) / 1000, connectCpu()];
    const idleResidentMiB = residentMiB(server.pid);
    const pairedSaturated = await saturatedRun(server, clients.slice(0, pairedDevices), inFlight, times);
    const saturated = await randomSaturatedRun(server, clients, inFlight, times);
    const fixed = saturated.rate * sustainableShare >= rate ? { ...await fixedRateRun(server, clients, rate, times, randomPairs(devices)), rate } : undefined;
    return { devices, connectSeconds, connectLoadCpu, idleResidentMiB, pairedSaturated, saturated, fixed };
  });
}

/** `inFlight` messages under way between random pairs: each delivery sends the next one. Counts deliveries after a warm-up. */
export async function randomSaturatedRun(server: ServerUnderTest, clients: readonly BenchClient[], inFlight: number, times: RunTimes): Promise<CrowdRun['saturated']> {
  const route = randomPairs(clients.length, 61);
  const tracker = new LatencyTracker();
  let running = true;
  const sendNext = () => {
    const [from, to] = route(0);
    tracker.send(clients[from]!, to);
  };
  for (const client of clients) {
    client.onMessage = (id, at) => {
      if (tracker.arrived(id, at) && running) sendNext();
    };
  }
  for (let i = 0; i < inFlight; i++) sendNext();
  await sleep(times.warmupMs);
  tracker.startMeasuring();
  const cpuMs = processCpuMs(server.pid);
  const startedAt = performance.now();
  const loadCpu = loadClientCpu();
  await sleep(times.saturatedMs);
  const { rate, p99 } = tracker.result();
  const result = { rate, p99, serverCpu: (processCpuMs(server.pid) - cpuMs) / (performance.now() - startedAt), loadCpu: loadCpu() };
  running = false;
  await tracker.drained();
  return result;
}

/** mulberry32: a small seeded generator, so every run picks the same pairs. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
