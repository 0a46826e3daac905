/**
 * Issue 16's reconnect storm: the relay starts on a data directory with every device enrolled and a few
 * envelopes queued for each (written while it was down), and every device reconnects at once, as
 * workstations do when their relay comes back: the restart dropped every socket, and each app tries again
 * after its first back-off, 1 s with 80-120 % jitter, so all first attempts fall within 400 ms. Each
 * client then backs off as the app's RelayLink does: a socket refused with Retry-After (RELAY_BUSY while
 * the relay sheds) waits that long plus up to half again, the back-off kept as it was; any other failure
 * waits a jittered back-off that doubles. A device is done once every
 * envelope queued for it has arrived (and been acknowledged); a device not done within `maxMs` is
 * starved.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { openStore } from '../../server/openStore';
import { addressKey, type EnvelopeId } from '../../shared/ids';
import { loadClientCpu, processCpuMs, residentMiB } from './benchMachine';
import { RefusedSocket, retryAfterWaitMs, sleep, type BenchClient, type ServerUnderTest } from './loadRun';
import type { BenchDevice } from './relayLoad';

/** The app's back-off (main/core/messaging/RelayLink.ts DEFAULT_BACKOFF) and its jitter, 80-120 %. */
const BACKOFF = { firstMs: 1000, maxMs: 30_000 };
const JITTER = 0.4;
/** Envelopes written per store call while preparing the queues. */
const ENQUEUE_BATCH = 1000;

export interface StormRun {
  readonly devices: number;
  readonly envelopes: number;
  /** From the first connect until the last device had every envelope, s (Infinity if some never did). */
  readonly allDrainedSeconds: number;
  /** Devices' times until drained: median and the slowest of those that finished, s. */
  readonly medianSeconds: number;
  readonly slowestSeconds: number;
  readonly connectAttempts: number;
  /** Connects refused with 503 and Retry-After (shed), and connects that failed otherwise. */
  readonly shed: number;
  readonly failed: number;
  /** What the other failures were, by message (ports left out), with how many of each. */
  readonly failures: ReadonlyMap<string, number>;
  /** Devices that had not drained their queue after `maxMs`. */
  readonly starved: number;
  /** Relay CPU during the storm, s; its resident memory at the end, MiB; the load client's CPU, share of a core. */
  readonly relayCpuSeconds: number;
  readonly relayResidentMiB: number;
  readonly loadCpu: number;
}

/** How many envelopes device `index` has queued when the storm begins: 1 to 5, 3 on average. */
export function queuedFor(index: number): number {
  return (index % 5) + 1;
}

/**
 * Queues `queuedFor(i)` envelopes for each device i, from device i + 1, through the store's own write
 * path (the `envelope.accepted` record the relay writes with each), in the template before any relay
 * runs on it: what a relay that went down with those queues finds when it starts again.
 */
export async function queueWhileDown(dataDir: string, devices: readonly BenchDevice[], content: string): Promise<void> {
  const store = openStore(dataDir);
  try {
    const now = Date.now();
    const envelopes = devices.flatMap((device, i) => {
      const sender = devices[(i + 1) % devices.length]!.address;
      return Array.from({ length: queuedFor(i) }, () => ({ id: randomUUID() as EnvelopeId, type: 'whisper' as const, sender, recipient: device.address, content, acceptedAt: now }));
    });
    const unlimited = { maxEnvelopes: Number.MAX_SAFE_INTEGER, maxBytes: Number.MAX_SAFE_INTEGER, maxEnvelopesPerSender: Number.MAX_SAFE_INTEGER, maxBytesPerSender: Number.MAX_SAFE_INTEGER };
    for (let i = 0; i < envelopes.length; i += ENQUEUE_BATCH) {
      const outcomes = await store.enqueue(envelopes.slice(i, i + ENQUEUE_BATCH), (e) => ({
        type: 'envelope.accepted', actor: addressKey(e.sender), subject: e.id, details: { recipient: addressKey(e.recipient), size: Buffer.byteLength(e.content, 'base64'), type: e.type },
      }), unlimited);
      const notQueued = outcomes.filter((o) => o !== 'queued');
      if (notQueued.length > 0) throw new Error(`${notQueued.length} envelopes not queued (${notQueued[0]})`);
    }
  } finally {
    await store.close();
  }
}

/** Every device 0 .. deviceCount - 1 reconnects at once to `server`; resolves when all drained or `maxMs` passed. */
export async function stormRun(server: ServerUnderTest, deviceCount: number, maxMs: number, random: () => number = Math.random): Promise<StormRun> {
  const clients: BenchClient[] = [];
  const drainedAt: number[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let [attempts, shed, failed, drained] = [0, 0, 0, 0];
  const start = performance.now();
  const cpuMs = processCpuMs(server.pid);
  const loadCpu = loadClientCpu();
  const failures = new Map<string, number>();
  let over = false;
  let allDrained: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allDrained = resolve));

  const connect = (index: number, backoffMs: number) => {
    attempts++;
    const seen = new Set<string>();
    server.connect(index, (id) => {
      if (seen.has(id)) return;
      seen.add(id);
      if (seen.size !== queuedFor(index)) return;
      drainedAt[index] = performance.now() - start;
      if (++drained === deviceCount) allDrained();
    }).then((client) => (over ? client.terminate() : void clients.push(client)), (error: unknown) => {
      if (over) return;
      const busy = error instanceof RefusedSocket && error.retryAfterSeconds !== undefined;
      if (busy) shed++;
      else {
        failed++;
        const what = (error as Error).message.replace(/:\d+/g, '');
        failures.set(what, (failures.get(what) ?? 0) + 1);
      }
      // As RelayLink: the back-off with jitter, doubled after; after a shed, Retry-After plus up to half again if longer.
      const backoff = backoffMs * (1 - JITTER / 2 + random() * JITTER);
      const wait = busy ? Math.max(backoff, retryAfterWaitMs(error.retryAfterSeconds!, random)) : backoff;
      later(wait, () => connect(index, busy ? backoffMs : Math.min(BACKOFF.maxMs, backoffMs * 2)));
    });
  };
  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  };

  try {
    for (let index = 0; index < deviceCount; index++) later(random() * JITTER * BACKOFF.firstMs, () => connect(index, BACKOFF.firstMs));
    await Promise.race([done, sleep(maxMs, false)]);
    const finished = drainedAt.filter((t) => t !== undefined).sort((a, b) => a - b);
    return {
      devices: deviceCount,
      envelopes: Array.from({ length: deviceCount }, (_, i) => queuedFor(i)).reduce((a, b) => a + b, 0),
      allDrainedSeconds: drained === deviceCount ? finished.at(-1)! / 1000 : Number.POSITIVE_INFINITY,
      medianSeconds: (finished[Math.floor(finished.length / 2)] ?? Number.NaN) / 1000,
      slowestSeconds: (finished.at(-1) ?? Number.NaN) / 1000,
      connectAttempts: attempts,
      shed,
      failed,
      failures,
      starved: deviceCount - drained,
      relayCpuSeconds: (processCpuMs(server.pid) - cpuMs) / 1000,
      relayResidentMiB: residentMiB(server.pid),
      loadCpu: loadCpu(),
    };
  } finally {
    over = true;
    for (const timer of timers) clearTimeout(timer);
    for (const client of clients) client.terminate();
  }
}
