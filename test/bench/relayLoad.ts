/**
 * The Rounds relay as a system under benchmark: accounts written straight into a template data directory,
 * a fresh relay process pinned to core 0 on a copy of it for every run, and raw WebSockets for the
 * devices. The load client is kept cheaper than RelayClient (JSON.parse only, no schema checks) so that it
 * measures the relay rather than itself. Device credentials are secrets of throwaway benchmark accounts;
 * never logged.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, cpSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import { newCredential, sha256Hex } from '../../server/auth/secrets';
import { openStore } from '../../server/openStore';
import type { RelayStore } from '../../server/storage/RelayStore';
import { UserIdSchema, type DeviceAddress } from '../../shared/ids';
import { RelayProcess, removeDir, tempDataDir } from '../fixtures/relayProcess';
import { TestDirectory, newConversationId, newDevice, newUserId, sendText } from '../fixtures/protocolHarness';
import { bundledRelayScript, relayUnitEnvironment, serverCommandPrefix } from './benchMachine';
import { DRAIN_MAX_MS, RefusedSocket, sleep, within, type BenchClient, type BenchSystem, type ServerUnderTest } from './loadRun';

/** Unanswered `send` frames the offline sender keeps under way. */
const OFFLINE_WINDOW = 1000;

export interface BenchDevice {
  readonly address: DeviceAddress;
  readonly credential: string;
}

export class RoundsSystem implements BenchSystem {
  readonly name = 'rounds';

  private constructor(private readonly template: string, private readonly devices: readonly BenchDevice[], private readonly content: string) {}

  /** The real ciphertext every benchmark envelope carries (base64). */
  get envelopeContent(): string {
    return this.content;
  }

  get deviceCount(): number {
    return this.devices.length;
  }

  /** Provisions `deviceCount` devices in a template data directory; every message carries one real ciphertext. */
  static async create(deviceCount: number): Promise<RoundsSystem> {
    const template = tempDataDir();
    return new RoundsSystem(template, await provision(template, deviceCount), await realCiphertext());
  }

  async start(): Promise<ServerUnderTest> {
    const dataDir = tempDataDir();
    cpSync(this.template, dataDir, { recursive: true });
    let relay: BenchRelay;
    try {
      relay = await startBenchRelay(dataDir);
    } catch (error) {
      removeDir(dataDir);
      throw error;
    }
    return {
      pid: relay.pid,
      exited: relay.exited,
      connect: (index, onMessage) => LoadSocket.connect(relay.url, this.devices, index, this.content, onMessage),
      storeOffline: (from, to, count) => storeOffline(from as LoadSocket, to, count),
      stop: async () => {
        await relay.stop();
        removeDir(dataDir);
      },
    };
  }

  /**
   * A copy of this system with more written into its template before any relay starts on it (envelopes
   * queued while the relay was down, say): `prepare` gets the copy's data directory, the devices and the
   * ciphertext every message carries.
   */
  async derive(prepare: (dataDir: string, devices: readonly BenchDevice[], content: string) => Promise<void>): Promise<RoundsSystem> {
    const template = tempDataDir();
    try {
      cpSync(this.template, template, { recursive: true });
      await prepare(template, this.devices, this.content);
    } catch (error) {
      removeDir(template);
      throw error;
    }
    return new RoundsSystem(template, this.devices, this.content);
  }

  dispose(): void {
    removeDir(this.template);
  }
}


/** One relay process of a run: its address and pid; `exited` rejects if it exits before `stop`, with the end of its error output. */
export interface BenchRelay {
  readonly url: string;
  readonly pid: number;
  readonly dataDir: string;
  readonly exited: Promise<never>;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s; the data directory stays. */
  stop(): Promise<void>;
}

/**
 * The bundled relay on `dataDir` (with `extraArgs`, e.g. --database), pinned and limited as every server here, with
 * the environment of the systemd unit and of `dropIns` (POSTGRES_DROP_IN for a relay on PostgreSQL).
 * RELAY_BENCH_CPU_PROFILE=DIR has each relay write a V8 CPU profile into DIR when it stops (for profiling, not for figures);
 * RELAY_BENCH_HEAP_SNAPSHOT=DIR lets the bench have it write heap snapshots there (`heapSnapshotSignal`);
 * RELAY_BENCH_NODE_FLAGS='--trace-gc ...' adds Node options, and RELAY_BENCH_LOG=FILE appends the relay's output to FILE.
 */
export async function startBenchRelay(dataDir: string, extraArgs: readonly string[] = [], dropIns: readonly string[] = []): Promise<BenchRelay> {
  const profileDir = process.env.RELAY_BENCH_CPU_PROFILE;
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const snapshotDir = process.env.RELAY_BENCH_HEAP_SNAPSHOT;
  if (snapshotDir) profile.push(`--heapsnapshot-signal=${heapSnapshotSignal()}`, `--diagnostic-dir=${snapshotDir}`);
  const flags = process.env.RELAY_BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  // After the unit's own options, so that a flag given here wins over the unit's.
  const script = await bundledRelayScript();
  const { nodeOptions, environment } = relayUnitEnvironment(dropIns);
  const prefix = [...serverCommandPrefix(), ...(environment.length > 0 ? ['env', ...environment] : [])];
  const relay = await RelayProcess.start(dataDir, extraArgs, 0, prefix, [...profile, ...nodeOptions, ...flags, script]);
  const logFile = process.env.RELAY_BENCH_LOG;
  if (logFile) for (const stream of [relay.child.stdout, relay.child.stderr]) stream?.on('data', (chunk: Buffer) => appendFileSync(logFile, chunk));
  let stderr = '';
  relay.child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  let stopping = false;
  const exited = new Promise<never>((_resolve, reject) => {
    relay.child.once('exit', (code, signal) => {
      if (!stopping) reject(new Error(`relay exited during the run (${code ?? signal}): ${stderr}`));
    });
  });
  exited.catch(() => undefined);
  return {
    url: relay.url, pid: relay.child.pid ?? Number.NaN, dataDir, exited,
    stop: async () => {
      stopping = true;
      await Promise.race([relay.stop(), sleep(5000, false)]);
      await relay.kill();
    },
  };
}

/** The signal that has a relay write a heap snapshot, when RELAY_BENCH_HEAP_SNAPSHOT=DIR asks for them (for profiling, not figures). */
export function heapSnapshotSignal(): NodeJS.Signals | undefined {
  return process.env.RELAY_BENCH_HEAP_SNAPSHOT ? 'SIGUSR2' : undefined;
}

/**
 * One device's WebSocket. Sends one envelope per `send` frame (one message to one device, as a client
 * does) and acknowledges every envelope, batched per turn of the event loop as a client does when many
 * arrive at once.
 */
export class LoadSocket implements BenchClient {
  onMessage: (id: string, arrivedAt: number) => void = () => undefined;
  onSent: () => void = () => undefined;
  readonly errors: string[] = [];
  #acks: string[] = [];
  #requests = 0;
  #terminated = false;

  private constructor(private readonly socket: WebSocket, private readonly devices: readonly BenchDevice[], private readonly content: string) {}

  /** Opens device `index`'s socket; resolves when the relay sends `queueEmpty` after pushing what was queued. */
  static connect(url: string, devices: readonly BenchDevice[], index: number, content: string, onMessage?: (id: string, at: number) => void): Promise<LoadSocket> {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${devices[index]!.credential}` } });
    const load = new LoadSocket(socket, devices, content);
    if (onMessage) load.onMessage = onMessage;
    return new Promise((resolve, reject) => {
      socket.on('message', (data: Buffer) => {
        const at = performance.now();
        const frame = JSON.parse(data.toString()) as { type: string; envelope?: { id: string }; message?: string };
        if (frame.type === 'envelope' && frame.envelope) load.#received(frame.envelope.id, at);
        else if (frame.type === 'sent') load.onSent();
        else if (frame.type === 'queueEmpty') resolve(load);
        else if (frame.type === 'error') load.errors.push(frame.message ?? 'error');
      });
      socket.on('error', reject);
      socket.once('close', (code) => {
        if (!load.#terminated) load.errors.push(`relay closed the socket (${code})`);
        reject(new Error(`relay closed the socket (${code})`));
      });
      socket.once('unexpected-response', (request, response) => {
        const retryAfter = Number(response.headers['retry-after'] ?? Number.NaN);
        // The status and Retry-After are all a load client needs: the connection is dropped at once.
        request.destroy();
        reject(new RefusedSocket(response.statusCode ?? 0, Number.isFinite(retryAfter) ? retryAfter : undefined));
      });
    });
  }

  send(id: string, to: number): void {
    const envelope = { id, type: 'whisper', recipient: this.devices[to]!.address, content: this.content };
    this.socket.send(JSON.stringify({ type: 'send', requestId: String(++this.#requests), envelopes: [envelope] }));
  }

  terminate(): void {
    this.#terminated = true;
    this.socket.terminate();
  }

  #received(id: string, at: number): void {
    this.onMessage(id, at);
    if (this.#acks.push(id) > 1) return;
    setImmediate(() => {
      const ids = this.#acks;
      this.#acks = [];
      for (let i = 0; i < ids.length; i += 1000) {
        if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ type: 'ack', ids: ids.slice(i, i + 1000) }));
      }
    });
  }
}

/** Keeps OFFLINE_WINDOW `send` frames unanswered until `count` have been answered `sent` (stored, fsynced, audited). */
export function storeOffline(sender: LoadSocket, to: number, count: number): Promise<void> {
  let sent = 0;
  let answered = 0;
  return within(new Promise<void>((resolve) => {
    const next = () => {
      sent++;
      sender.send(randomUUID(), to);
    };
    sender.onSent = () => {
      answered++;
      if (answered === count) resolve();
      else if (sent < count) next();
    };
    while (sent < Math.min(count, OFFLINE_WINDOW)) next();
  }), DRAIN_MAX_MS, 'storing the offline envelopes');
}

/**
 * Writes `count` active accounts with one device each straight into the data directory (enrollment over
 * HTTP costs Argon2 and TOTP per device). Every device reuses one real key upload: the relay only stores it.
 */
export async function provision(dataDir: string, count: number): Promise<BenchDevice[]> {
  const store = openStore(dataDir);
  try {
    return await provisionStore(store, count);
  } finally {
    await store.close();
  }
}

/** Writes `count` active accounts with one device each into `store` (SQLite or PostgreSQL), which stays open. */
export async function provisionStore(store: RelayStore, count: number): Promise<BenchDevice[]> {
  const keys = await ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 1 } }).keys.initialUpload();
  const devices: BenchDevice[] = [];
  const now = Date.now();
  for (let i = 0; i < count; i++) {
    const userId = UserIdSchema.parse(randomUUID());
    await store.createUser({ id: userId, username: `bench-${i}`, displayName: `Bench ${i}`, role: 'clinician', status: 'active', createdAt: now, lastActiveAt: now }, sha256Hex(randomUUID()), now, []);
    let credential = '';
    const deviceId = await store.addDevice(userId, {
      name: 'bench', keys, expiresAt: null,
      credentialHashFor: (id) => {
        credential = newCredential({ userId, deviceId: id });
        return sha256Hex(credential);
      },
    }, now, []);
    devices.push({ address: { userId, deviceId }, credential });
  }
  return devices;
}

/**
 * A real libsignal ciphertext of a 200-character text (base64): the reply of an established session,
 * a `whisper` message. The relay never looks inside, so every benchmark envelope carries this one.
 */
export async function realCiphertext(): Promise<string> {
  const directory = new TestDirectory();
  const [alice, bob] = [await newDevice(directory, newUserId(), 1), await newDevice(directory, newUserId(), 1)];
  const conversation = newConversationId();
  const [first] = await sendText(alice, directory, [bob.address.userId], conversation, 'x'.repeat(200));
  await bob.core.decrypt({ ...first!, serverTimestamp: Date.now() });
  const reply = (await sendText(bob, directory, [alice.address.userId], conversation, 'x'.repeat(200))).find((e) => e.recipient.userId === alice.address.userId);
  if (reply?.type !== 'whisper') throw new Error(`expected a whisper reply, got ${reply?.type ?? 'nothing'}`);
  return reply.content;
}
