/**
 * A big audit export's readout (events.csv, report.html, people.json: shared/audit/exportReadout.ts) on a
 * worker thread of its own, so that describing a year's records runs beside reading them from the database
 * and writing events.jsonl. The export hands it each chunk of lines (BundleWriter's
 * ReadoutElsewhere), lets it catch up a page at a time (`caughtUp`), and gets its result at the end.
 */
import { Worker } from 'node:worker_threads';
import type { ReadoutElsewhere } from '../../shared/audit/bundleWriter';
import type { ReadoutHeader, ReadoutResult } from '../../shared/audit/exportReadout';
import type { AuditReportVerification } from '../../shared/audit/report';
import type { ReadoutRequest } from './readoutWorker';

const WORKER = new URL('./readoutWorker.mjs', import.meta.url);
/** Chunks (a megabyte each) handed over and not yet read, before the export waits for the readout. */
const AHEAD = 8;

type ReadoutMessage = { kind: 'csv'; bytes: Uint8Array } | { kind: 'read' } | { kind: 'result'; result: ReadoutResult } | { kind: 'error'; message: string };

export class ReadoutThread {
  readonly #worker: Worker;
  #unread = 0;
  #failure: Error | null = null;
  #wake: (() => void) | null = null;
  #result: ReadoutResult | null = null;
  /** Closed (the export ended, or failed): whatever the worker still sends is dropped. */
  #closed = false;

  /** `csvOut`: events.csv's bytes, in order, as the worker makes them. */
  constructor(header: ReadoutHeader, csvOut: (bytes: Uint8Array) => void) {
    this.#worker = new Worker(WORKER, { workerData: header });
    this.#worker.on('message', (message: ReadoutMessage) => {
      if (this.#closed) return;
      if (message.kind === 'csv') this.#csv(csvOut, message.bytes);
      else if (message.kind === 'read') this.#unread--;
      else if (message.kind === 'result') this.#result = message.result;
      else this.#failure ??= new Error(`the export's readout thread failed: ${message.message}`);
      this.#notify();
    });
    this.#worker.on('error', (error) => {
      this.#failure ??= new Error(`the export's readout thread failed: ${error.message}`);
      this.#notify();
    });
    this.#worker.on('exit', (code) => {
      if (!this.#result) this.#failure ??= new Error(`the export's readout thread stopped (exit code ${code})`);
      this.#notify();
    });
  }

  /** For BundleWriter: a chunk of lines (copied: the writer's sink may keep the original). */
  readonly lines: ReadoutElsewhere = (chunk) => {
    // A copy of its own (Buffer's slice would share, and the transfer detach, the caller's memory).
    const copy = new Uint8Array(chunk);
    const request: ReadoutRequest = { kind: 'lines', chunk: copy };
    this.#worker.postMessage(request, [copy.buffer as ArrayBuffer]);
    this.#unread++;
  };

  /** Lets the worker's messages in (events.csv's bytes), and waits while it is more than a few chunks behind. */
  async caughtUp(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#unread > AHEAD && !this.#failure) await this.#next();
    if (this.#failure) throw this.#failure;
  }

  /** After the last chunk: the rest of events.csv (through csvOut), then the report and the people named. */
  async finish(verification: AuditReportVerification): Promise<ReadoutResult> {
    const request: ReadoutRequest = { kind: 'finish', verification };
    this.#worker.postMessage(request);
    while (!this.#result && !this.#failure) await this.#next();
    if (this.#failure) throw this.#failure;
    return this.#result as ReadoutResult;
  }

  close(): void {
    this.#closed = true;
    void this.#worker.terminate();
  }

  /** events.csv's bytes to the sink; a sink that fails (a full disk) fails the export, not the process. */
  #csv(csvOut: (bytes: Uint8Array) => void, bytes: Uint8Array): void {
    try {
      csvOut(bytes);
    } catch (error) {
      this.#failure ??= error instanceof Error ? error : new Error(String(error));
    }
  }

  #next(): Promise<void> {
    if (this.#failure) return Promise.resolve();
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
