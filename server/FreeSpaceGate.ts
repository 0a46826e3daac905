import type { RelayLog } from './http/relayLog';

/** How long a free-space reading that found room is believed (ms of the process's own monotonic clock). */
const FREE_SPACE_MS = 250;
/** Closer than this to the reserve, the file system is asked at every send. */
const FREE_SPACE_MARGIN = 64 * 1024 * 1024;

/**
 * Below the configured free space the relay takes no new envelopes (the one thing a sender can make it store
 * in bulk) and keeps the rest for deliveries, acknowledgements, sign-ins and their audit records, instead of
 * failing every write once the disk is full. The free space is asked of the file system at most every
 * FREE_SPACE_MS (a system call per send was a few per cent of a busy relay's CPU), less what was accepted since
 * and what is being written; within FREE_SPACE_MARGIN of the reserve, or below it, at every send (so that sends
 * stop at the reserve, and resume at once).
 */
export class FreeSpaceGate {
  /** Whether the last send found the disk below the reserve (said once in the log, not per request). */
  #low = false;
  #reading: { at: number; free: number; acceptedSince: number } | undefined;
  /** Bytes of the sends that passed the gate and are not committed yet (twice their base64). */
  #writing = 0;

  constructor(
    private readonly freeBytes: () => Promise<number | undefined>,
    /** The reserve, read at each send (the relay's config). */
    private readonly reserve: () => number,
    private readonly log: RelayLog,
  ) {}

  /**
   * Whether a send that will write `writing` bytes may go. If so, they count against the free space until
   * `release` (senders racing in one turn must not all pass on one reading).
   */
  async admit(writing: number): Promise<boolean> {
    const { low, free } = await this.#freeSpace(writing);
    if (low !== this.#low) {
      this.#low = low;
      if (low) this.log(`refusing new envelopes: ${Math.floor((free ?? 0) / 1048576)} MiB free for the data directory, below the ${Math.floor(this.reserve() / 1048576)} MiB the relay keeps (free space, or lower --min-free-disk-mib)`, 'error');
      else this.log('taking new envelopes again: the data directory has room', 'info');
    }
    return !low;
  }

  /** The end of an admitted send: its bytes are on the disk, or were never written. */
  release(writing: number): void {
    this.#writing -= writing;
  }

  /** Bytes committed since the last reading, taken off it until the next. */
  accepted(bytes: number): void {
    if (this.#reading) this.#reading.acceptedSince += bytes;
  }

  async #freeSpace(writing: number): Promise<{ low: boolean; free: number | undefined }> {
    const now = performance.now();
    const known = this.#reading;
    const reserve = this.reserve();
    if (known && now - known.at < FREE_SPACE_MS) {
      // What was accepted since the reading, and what is being written now, is taken off it: the reading is
      // believed only well above the reserve.
      const free = known.free - known.acceptedSince - this.#writing;
      if (free - reserve > FREE_SPACE_MARGIN) {
        this.#writing += writing;
        return { low: false, free };
      }
    }
    const measured = await this.freeBytes().catch(() => undefined);
    this.#reading = measured === undefined ? undefined : { at: now, free: measured, acceptedSince: 0 };
    // The sends that passed the gate and are not committed yet are not on the disk the reading saw.
    const free = measured === undefined ? undefined : measured - this.#writing;
    const low = free !== undefined && free < reserve;
    // Taken in the same step as the decision: no other send decides in between.
    if (!low) this.#writing += writing;
    return { low, free };
  }
}
