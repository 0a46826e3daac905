/**
 * `rounds-audit verify` of a big bundle directory on every core: events.jsonl is cut at line boundaries into
 * one byte range per core, each range's lines are checked on their own by a worker thread
 * (eventLinesWorker.ts) while the verifier takes the files' digests, and the verifier folds their facts in
 * file order (shared/audit/eventLines.ts), so the verdict is the one a single pass gives. The verifier is
 * synchronous: it waits for each worker's next message on a shared counter (Atomics.wait) and takes it with
 * receiveMessageOnPort.
 */
import { closeSync, existsSync, lstatSync, openSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { MAX_LINE_BYTES } from '../../shared/audit/bundleLayout';
import type { EventLinesElsewhere } from '../../shared/audit/bundleVerify';
import type { EventLinesContext, LineFactsBatch } from '../../shared/audit/eventLines';
import type { EventLinesJob } from './eventLinesWorker';

/** Below this, one thread checks the lines in well under a second: starting workers would cost more than it saves. */
const MIN_BYTES = 32 << 20;
/** Each worker loads the verifier again (tens of MiB, half a second of CPU): no more than this many, one per MIN_BYTES at most. */
const MAX_THREADS = 4;
/** A worker that sends nothing for this long has stopped (it sends a batch every few thousand lines). */
const SILENCE_MS = 120_000;
const WORKER = new URL('./eventLinesWorker.mjs', import.meta.url);

type WorkerMessage = { kind: 'batch'; batch: LineFactsBatch } | { kind: 'done'; truncated: boolean } | { kind: 'error'; message: string };

/** Where to cut the file of `size` bytes into `parts` ranges: each cut just after a newline (none in a window: no cut there). */
export function lineCuts(file: string, size: number, parts: number): number[] {
  const at = [0];
  const fd = openSync(file, 'r');
  try {
    const window = Buffer.allocUnsafe(2 * MAX_LINE_BYTES + 2);
    for (let k = 1; k < parts; k++) {
      const target = Math.floor((size * k) / parts);
      const n = readSync(fd, window, 0, window.length, target);
      const newline = window.subarray(0, n).indexOf(10);
      const cut = target + newline + 1;
      if (newline >= 0 && cut > (at[at.length - 1] ?? 0) && cut < size) at.push(cut);
    }
  } finally {
    closeSync(fd);
  }
  at.push(size);
  return at;
}

/**
 * The verifier's `eventLines` option for a bundle directory: null (check here) for a small file, a single
 * core or an events.jsonl too short to cut. `required` (--threads always): any file past `minBytes`, two
 * threads at least even on one core, and a worker file missing from the install is an error, not a quiet
 * fall back. `onStart` hears how many threads were started.
 */
export function eventLinesOnThreads(dir: string, options: { minBytes?: number; threads?: number; workerFile?: URL; required?: boolean; onStart?: (threads: number) => void } = {}): (context: EventLinesContext) => EventLinesElsewhere | null {
  return (context) => {
    const file = join(dir, 'events.jsonl');
    let size: number;
    try {
      // The bundle reader takes regular files only (no links): so do the threads, or the two would read different things.
      const stat = lstatSync(file);
      if (!stat.isFile()) return null;
      size = stat.size;
    } catch {
      return null;
    }
    const minBytes = options.minBytes ?? MIN_BYTES;
    if (size < minBytes) return null;
    // This thread waits on the workers synchronously: one that cannot load (its file missing from an
    // install) would only be noticed when SILENCE_MS ran out. Without the file, the lines are checked here.
    const workerFile = options.workerFile ?? WORKER;
    if (!existsSync(fileURLToPath(workerFile))) {
      if (options.required) throw new Error(`the worker threads' file ${fileURLToPath(workerFile)} is missing from this install: verify with --threads auto or never`);
      return null;
    }
    const threads = options.threads ?? Math.max(options.required ? 2 : 1, Math.min(availableParallelism(), MAX_THREADS, Math.ceil(size / minBytes)));
    if (threads < 2) return null;
    const bounds = lineCuts(file, size, threads);
    if (bounds.length < 3) return null;
    options.onStart?.(bounds.length - 1);
    return start(workerFile, dir, context, bounds);
  };
}

function start(workerFile: URL, dir: string, context: EventLinesContext, bounds: readonly number[]): EventLinesElsewhere {
  const signal = new SharedArrayBuffer(4 * (bounds.length - 1));
  const counters = new Int32Array(signal);
  const ports: MessagePort[] = [];
  const workers: Worker[] = [];
  for (let slot = 0; slot < bounds.length - 1; slot++) {
    const { port1, port2 } = new MessageChannel();
    const job: EventLinesJob = { dir, start: bounds[slot] ?? 0, end: bounds[slot + 1] ?? 0, context, port: port2, signal, slot };
    const worker = new Worker(workerFile, { workerData: job, transferList: [port2] });
    worker.unref();
    ports.push(port1);
    workers.push(worker);
  }
  let truncated = false;
  const next = (slot: number): WorkerMessage => {
    const port = ports[slot] as MessagePort;
    for (;;) {
      const seen = Atomics.load(counters, slot);
      const received = receiveMessageOnPort(port);
      if (received) return received.message as WorkerMessage;
      if (Atomics.wait(counters, slot, seen, SILENCE_MS) === 'timed-out') throw new Error('a worker thread checking events.jsonl stopped answering');
    }
  };
  return {
    *batches() {
      for (let slot = 0; slot < ports.length; slot++) {
        for (;;) {
          const message = next(slot);
          if (message.kind === 'batch') yield message.batch;
          else if (message.kind === 'error') throw new Error(`checking events.jsonl on a worker thread failed: ${message.message}`);
          else {
            if (slot === ports.length - 1) truncated = message.truncated;
            break;
          }
        }
      }
    },
    truncated: () => truncated,
    close() {
      for (const port of ports) port.close();
      for (const worker of workers) void worker.terminate();
    },
  };
}
