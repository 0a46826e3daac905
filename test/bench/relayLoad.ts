/**
 * The load generator of the relay benchmark: raw WebSockets for many devices and the latency bookkeeping.
 * It is kept cheaper than RelayClient (JSON.parse only, no schema checks) so that it measures the relay
 * rather than itself. Device credentials are secrets of throwaway benchmark accounts; never logged.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { DeviceAddress } from '../../shared/ids';

/** A 200-byte message is about a 300-byte ciphertext; the relay never looks inside, so random bytes do. */
export const MESSAGE_CONTENT = randomBytes(300).toString('base64');

/**
 * After the last send a run waits for every delivery (a relay that fell behind needs time to catch up),
 * but fails if nothing arrives for DRAIN_STALL_MS or the wait exceeds DRAIN_MAX_MS.
 */
const DRAIN_STALL_MS = 10_000;
export const DRAIN_MAX_MS = 30_000;

export interface BenchDevice {
  readonly address: DeviceAddress;
  readonly credential: string;
}

export interface LatencyRun {
  /** Deliveries per second while measuring. */
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
}

/** Send times by envelope id; latencies of messages sent while measuring; the delivery rate meanwhile. */
export class LatencyTracker {
  readonly #sentAt = new Map<string, { at: number; measured: boolean }>();
  readonly #latencies: number[] = [];
  #measureStart = 0;
  #delivered = 0;
  measuring = false;

  startMeasuring(): void {
    this.measuring = true;
    this.#measureStart = performance.now();
  }

  send(from: LoadSocket, to: DeviceAddress): void {
    const id = randomUUID();
    this.#sentAt.set(id, { at: performance.now(), measured: this.measuring });
    from.send(id, to);
  }

  /** Records a delivery; false for a duplicate (delivery is at-least-once). */
  arrived(id: string, at: number): boolean {
    const sent = this.#sentAt.get(id);
    if (!sent) return false;
    this.#sentAt.delete(id);
    if (this.measuring) this.#delivered++;
    if (sent.measured) this.#latencies.push(at - sent.at);
    return true;
  }

  /** Waits until everything sent has arrived; throws when deliveries stall or take too long. */
  async drained(): Promise<void> {
    const start = performance.now();
    let missing = this.#sentAt.size;
    let progressAt = start;
    while (this.#sentAt.size > 0) {
      const now = performance.now();
      if (this.#sentAt.size < missing) [missing, progressAt] = [this.#sentAt.size, now];
      if (now - progressAt > DRAIN_STALL_MS || now - start > DRAIN_MAX_MS) throw new Error(`${missing} messages not delivered ${Math.round(now - start)} ms after the run`);
      await sleep(10);
    }
  }

  /** Delivered messages per second since measuring began, and the latency percentiles. */
  result(): LatencyRun {
    const seconds = (performance.now() - this.#measureStart) / 1000;
    const sorted = Float64Array.from(this.#latencies).sort();
    return { rate: this.#delivered / seconds, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
  }
}

/**
 * One device's WebSocket. Sends one envelope per `send` frame (one message to one device, as a client
 * does) and acknowledges every envelope, batched per turn of the event loop as a client does when many
 * arrive at once.
 */
export class LoadSocket {
  onEnvelope: (id: string, arrivedAt: number) => void;
  onSent: () => void = () => undefined;
  /** Error frames and unexpected closes: a run with any of them fails. */
  readonly errors: string[] = [];
  #acks: string[] = [];
  #requests = 0;
  #terminated = false;

  private constructor(readonly address: DeviceAddress, private readonly socket: WebSocket, onEnvelope: (id: string, at: number) => void) {
    this.onEnvelope = onEnvelope;
  }

  /** Opens the socket; resolves when the relay sends `queueEmpty` after pushing what was queued. */
  static connect(url: string, device: BenchDevice, onEnvelope: (id: string, at: number) => void = () => undefined): Promise<LoadSocket> {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${device.credential}` } });
    const load = new LoadSocket(device.address, socket, onEnvelope);
    return new Promise((resolve, reject) => {
      socket.on('message', (data: Buffer) => {
        const at = performance.now();
        const frame = JSON.parse(data.toString()) as { type: string; envelope?: { id: string }; message?: string };
        if (frame.type === 'envelope' && frame.envelope) load.#received(frame.envelope.id, at);
        else if (frame.type === 'sent') load.onSent();
        else if (frame.type === 'queueEmpty') resolve(load);
        else if (frame.type === 'error') load.errors.push(frame.message ?? 'error');
      });
      socket.once('error', reject);
      socket.once('close', (code) => {
        if (!load.#terminated) load.errors.push(`relay closed the socket (${code})`);
        reject(new Error(`relay closed the socket (${code})`));
      });
      socket.once('unexpected-response', (_request, response) => reject(new Error(`relay refused the socket: ${response.statusCode}`)));
    });
  }

  send(id: string, recipient: DeviceAddress): void {
    const envelope = { id, type: 'whisper', recipient, content: MESSAGE_CONTENT };
    this.socket.send(JSON.stringify({ type: 'send', requestId: String(++this.#requests), envelopes: [envelope] }));
  }

  terminate(): void {
    this.#terminated = true;
    this.socket.terminate();
  }

  #received(id: string, at: number): void {
    this.onEnvelope(id, at);
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

/** Fails the run with `what` if `promise` has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

/** `keepAlive: false` lets the process exit while the timer is pending. */
export function sleep(ms: number, keepAlive = true): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (!keepAlive) timer.unref();
  });
}
