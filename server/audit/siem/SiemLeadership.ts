import { join } from 'node:path';
import { describeError } from '../../../shared/errors';
import type { RelayStore } from '../../storage/RelayStore';
import { SIEM_CURSOR_FILE, SIEM_STREAM_JOB, SharedSiemCursor, SiemCursorFile, type SiemCursorStore } from './SiemCursor';
import { SiemStream, realTimers, type SiemSink, type StreamPacing, type StreamTimers } from './SiemStream';

export { SIEM_STREAM_JOB };
/** How often an instance that does not stream asks whether the one that did has stopped (a connection each time). */
export const STANDBY_RETRY_MS = 10_000;

type LeaderStore = Pick<RelayStore, 'auditRecordsAfter' | 'withExclusiveJob' | 'claimSiemCursor' | 'writeSiemCursor'>;

/**
 * Who streams the audit log to the SIEM (issue 15) when several relay instances share one database (issue 17):
 * exactly one at a time, the holder of the SIEM_STREAM_JOB lock, from the cursor they share in the database,
 * so the SIEM receives each record once, not once per instance. The others stand by and ask every
 * STANDBY_RETRY_MS; when the streaming instance stops or dies (its lock goes with its database session), one
 * of them goes on from the shared cursor: what the old one had in flight may be sent twice (a batch, or the
 * few sent while its lost lock went unnoticed, at most LEASE_CHECK_MS), nothing is lost. A stream that finds its
 * lock lost stops before its next batch, and its cursor writes are refused once another turn has begun. The embedded store's relay is the only process streaming
 * from its data directory: it takes its (file) lock at once and keeps its cursor file there.
 */
export class SiemLeadership {
  #stopped = false;
  #stream: SiemStream | undefined;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #announcedStandby = false;
  #lastFailure = '';

  constructor(
    private readonly store: LeaderStore,
    private readonly sink: SiemSink,
    private readonly pacing: StreamPacing,
    private readonly dataDir: string,
    private readonly log: (line: string) => void,
    private readonly timers: StreamTimers = realTimers,
    private readonly standbyMs = STANDBY_RETRY_MS,
  ) {}

  /** Where the cursor is kept: the shared store's when it has one, else the data directory's file. */
  cursorStore(): SiemCursorStore {
    const file = new SiemCursorFile(join(this.dataDir, SIEM_CURSOR_FILE));
    const { claimSiemCursor, writeSiemCursor } = this.store;
    return claimSiemCursor && writeSiemCursor ? new SharedSiemCursor({ claimSiemCursor: claimSiemCursor.bind(this.store), writeSiemCursor: writeSiemCursor.bind(this.store) }, file) : file;
  }

  /** Starts taking turns; `onStreaming` is told the first record this instance sends whenever it begins to stream. */
  start(onStreaming: (from: number) => void): void {
    this.#loop ??= this.#run(onStreaming);
  }

  /** Whether this instance streams now. */
  get streaming(): boolean {
    return this.#stream !== undefined;
  }

  /** Stops streaming (sending what it can within `graceMs`, SiemStream.stop) or standing by. */
  async stop(graceMs?: number): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#stream?.stop(graceMs);
    await this.#loop;
  }

  async #run(onStreaming: (from: number) => void): Promise<void> {
    while (!this.#stopped) {
      let outcome: Awaited<ReturnType<LeaderStore['withExclusiveJob']>> | undefined;
      try {
        outcome = await this.store.withExclusiveJob(SIEM_STREAM_JOB, async (lease) => {
          if (this.#stopped) return;
          const stream = new SiemStream(this.store, this.sink, this.cursorStore(), this.pacing, this.timers, this.log, () => lease.assertHeld());
          this.#stream = stream;
          try {
            const from = await stream.start();
            // Told to stop while it was starting (stop() found nothing running yet): it stops now.
            if (this.#stopped) {
              await stream.stop();
              return;
            }
            onStreaming(from);
            this.#announcedStandby = false;
            await stream.finished;
          } finally {
            this.#stream = undefined;
          }
        });
        this.#lastFailure = '';
      } catch (error) {
        // The database did not answer, the cursor file is damaged: said once (again if the cause changes), tried
        // again after the pause. The wards keep messaging; the records wait in the log.
        const failure = describeError(error);
        if (failure !== this.#lastFailure) this.log(`ERROR: the audit log is NOT being streamed to ${this.sink.destination}: ${failure}`);
        this.#lastFailure = failure;
      }
      if (outcome && !outcome.ran && !this.#announcedStandby) {
        this.#announcedStandby = true;
        this.log(`SIEM stream: another relay instance streams the audit log to ${this.sink.destination}; this one takes over if it stops`);
      }
      if (!this.#stopped) await this.#pause();
    }
  }

  #pause(): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.timers.after(this.standbyMs, () => resolve());
      this.#wake = () => {
        timer.cancel();
        resolve();
      };
    });
  }
}
