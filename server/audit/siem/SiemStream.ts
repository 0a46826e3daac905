import { describeError } from '../../../shared/errors';
import { systemClock, type Clock } from '../../Clock';
import type { RelayStore } from '../../storage/RelayStore';
import type { AuditRecord } from '../AuditRecord';
import { lastSeq, resumeAfterRestore } from './resumeAfterRestore';
import { JobLockLost } from '../../storage/exclusiveJob';
import type { SiemCursor, SiemCursorStore } from './SiemCursor';

/**
 * Where the stream hands records: a syslog receiver over TLS, a file. `deliver` resolves only once the
 * receiver has accepted every record of the batch (read it and answered, or fsynced it); when it rejects,
 * none of the batch counts as sent and the whole batch is sent again.
 */
export interface SiemSink {
  /** Where the records go, for the relay's log (no secrets: a host and port, or a path). */
  readonly destination: string;
  deliver(records: readonly AuditRecord[]): Promise<void>;
  /** Abandons a delivery in progress (the relay is stopping): its promise rejects at once. */
  close(): void;
}

/** The clock and one-shot timers the stream waits with (injected: its tests run in virtual time). */
export interface StreamTimers extends Clock {
  after(ms: number, fn: () => void): { cancel(): void };
}

export const realTimers: StreamTimers = {
  now: systemClock.now,
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

export type AuditSource = Pick<RelayStore, 'auditRecordsAfter'>;

export interface StreamPacing {
  readonly pollMs: number;
  readonly maxRetryDelayMs: number;
  readonly batchRecords: number;
}

const FIRST_RETRY_MS = 1000;
/** While caught up, the stream still asks this often whether its turn holds (a lock lost while idle is noticed). */
export const LEASE_CHECK_MS = 30_000;

/**
 * Streams the relay's audit log to a SIEM, at least once and in order. It reads the log after its durable
 * cursor one page at a time (memory stays bounded by one batch, whatever the log's size) and moves the cursor
 * only once the sink accepted the page, so a receiver outage or a relay restart loses nothing: the worst is
 * one batch sent twice (accepted, then the relay stopped before its cursor was written). It polls the log
 * and is no part of the transactions that append to it: a receiver that is slow or down never slows a
 * request. While the receiver is down it tries again after 1 s, doubling up to `maxRetryDelayMs`.
 */
export class SiemStream {
  readonly #source: AuditSource;
  readonly #sink: SiemSink;
  readonly #cursorStore: SiemCursorStore;
  /** Asked before each batch is sent: throws JobLockLost once this instance is no longer the one streaming. */
  readonly #stillMine: () => Promise<void>;
  /** Set when the lease was lost: the stream stopped, and another instance may stream now. */
  #lost: JobLockLost | undefined;
  readonly #pacing: StreamPacing;
  readonly #timers: StreamTimers;
  readonly #log: (line: string) => void;
  #cursor: SiemCursor = { seq: 0 };
  #running: Promise<void> | undefined;
  #stopping = false;
  #stopBy = Number.POSITIVE_INFINITY;
  #wake: (() => void) | undefined;
  #failures = 0;
  #lastFailure = '';
  #leaseCheckedAt = Number.NEGATIVE_INFINITY;

  constructor(source: AuditSource, sink: SiemSink, cursorStore: SiemCursorStore, pacing: StreamPacing, timers: StreamTimers = realTimers, log: (line: string) => void = (line) => console.error(line), stillMine: () => Promise<void> = async () => undefined) {
    this.#source = source;
    this.#sink = sink;
    this.#cursorStore = cursorStore;
    this.#stillMine = stillMine;
    this.#pacing = pacing;
    this.#timers = timers;
    this.#log = log;
  }

  /** The last record the receiver accepted (0: none yet). */
  get sentThrough(): number {
    return this.#cursor.seq;
  }

  /** Settles when the stream has stopped: by stop(), or because its lease was lost (then `lost` says so). */
  get finished(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /** Why the stream stopped by itself: its lease was lost (another instance may stream now). */
  get lost(): JobLockLost | undefined {
    return this.#lost;
  }

  /** Checks the cursor against the log and starts streaming; returns the seq of the first record it sends. */
  async start(): Promise<number> {
    if (this.#running) throw new Error('the SIEM stream is already running');
    this.#cursor = await this.#checkedCursor();
    this.#running = this.#run();
    return this.#cursor.seq + 1;
  }

  /**
   * Stops streaming, after sending what it can of the records appended so far within `graceMs` (a receiver
   * that is down is not waited for). What is left is sent after the next start, from the cursor.
   */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.#running || this.#stopping) return;
    this.#stopping = true;
    this.#stopBy = this.#timers.now() + graceMs;
    this.#wake?.();
    let timeout: { cancel(): void } | undefined;
    const late = new Promise<'late'>((resolve) => (timeout = this.#timers.after(graceMs, () => resolve('late'))));
    const outcome = await Promise.race([this.#running.then(() => 'done' as const), late]);
    timeout?.cancel();
    if (outcome === 'late') {
      this.#sink.close();
      await this.#running;
    }
  }

  async #run(): Promise<void> {
    for (;;) {
      const caughtUp = await this.#pass();
      if (this.#stopping || this.#lost) return;
      await this.#sleep(caughtUp ? this.#pacing.pollMs : this.#retryDelay());
      // Woken by stop(): one last pass sends what was appended meanwhile.
      if (this.#stopping) {
        if (!this.#lost) await this.#pass();
        return;
      }
    }
  }

  /** Sends page after page until the log is exhausted; false when the sink or the store failed. */
  async #pass(): Promise<boolean> {
    try {
      for (;;) {
        if (this.#stopping && this.#timers.now() >= this.#stopBy) return true;
        const page = await this.#source.auditRecordsAfter(this.#cursor.seq, this.#pacing.batchRecords);
        const last = page.at(-1);
        if (!last) {
          if (this.#timers.now() - this.#leaseCheckedAt >= LEASE_CHECK_MS) await this.#checkLease();
          return true;
        }
        // Another instance may have taken over (this one's database session dropped): it sends from the shared cursor.
        await this.#checkLease();
        await this.#sink.deliver(page);
        this.#cursor = { seq: last.seq, hash: last.hash };
        await this.#cursorStore.write(this.#cursor);
        if (this.#failures > 0) this.#log(`SIEM stream: ${this.#sink.destination} accepts records again (sent through record ${last.seq})`);
        this.#failures = 0;
        this.#lastFailure = '';
        if (page.length < this.#pacing.batchRecords) return true;
        // Catching up on a long backlog: requests get their turn between batches.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      if (error instanceof JobLockLost) {
        this.#lost = error;
        this.#log(`SIEM stream: ${error.message}; records after ${this.#cursor.seq} are for the instance that streams now`);
        return true;
      }
      this.#failures++;
      const failure = describeError(error);
      // Once per outage, and again if its cause changes; not once per attempt.
      if (failure !== this.#lastFailure) {
        this.#log(`SIEM stream: cannot send to ${this.#sink.destination}: ${failure}; records after ${this.#cursor.seq} wait, trying again (at least every ${this.#pacing.maxRetryDelayMs / 1000} s)`);
        this.#lastFailure = failure;
      }
      return false;
    }
  }

  async #checkLease(): Promise<void> {
    await this.#stillMine();
    this.#leaseCheckedAt = this.#timers.now();
  }

  #retryDelay(): number {
    return Math.min(this.#pacing.maxRetryDelayMs, FIRST_RETRY_MS * 2 ** Math.min(30, this.#failures - 1));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#timers.after(ms, () => resolve());
      this.#wake = () => {
        timer.cancel();
        resolve();
      };
    });
  }

  /**
   * The cursor, unless the log no longer holds the record it names as it was sent: the data directory was
   * restored from a backup (records after the backup were lost, and new ones take their numbers) or
   * replaced. Then the stream goes on after the backup's last record when the SIEM had it, and otherwise
   * sends the whole log again (resumeAfterRestore.ts), so that nothing the restored log holds is skipped.
   */
  async #checkedCursor(): Promise<SiemCursor> {
    const cursor = await this.#cursorStore.read();
    if (cursor.seq === 0) return cursor;
    if (cursor.hash === undefined) {
      // Written by hand: past the end of the log it would skip the records still to come.
      const [held] = await this.#source.auditRecordsAfter(cursor.seq - 1, 1);
      if (held?.seq === cursor.seq) return cursor;
      // The log is numbered without gaps: a seq it does not hold is past its end.
      const last = await lastSeq(this.#source);
      this.#log(`SIEM stream: the cursor says record ${cursor.seq} was sent, but the audit log ends at record ${last}: sending from record ${last + 1}`);
      return { seq: last };
    }
    const [record] = await this.#source.auditRecordsAfter(cursor.seq - 1, 1);
    if (record?.seq === cursor.seq && record.hash === cursor.hash) return cursor;
    const resumed = await resumeAfterRestore(this.#source, cursor.seq);
    this.#log(resumed > 0
      ? `SIEM stream: the audit log was restored from a backup of its records 1-${resumed}, which were sent; records after ${resumed} replace those sent before: sending from record ${resumed + 1}`
      : `SIEM stream: the audit log does not hold record ${cursor.seq} as it was sent (the data directory was restored from a backup, or replaced): sending the whole log again from record 1`);
    return { seq: resumed };
  }
}
