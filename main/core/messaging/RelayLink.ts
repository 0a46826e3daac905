import type { Cancellable, Scheduler } from '../Clock';
import { RelayRequestError } from './RelayClient';

/** Reconnect back-off: the first wait after a failure and the longest (ms); each failure doubles it. */
export interface Backoff {
  readonly firstMs: number;
  readonly maxMs: number;
}

export type LinkState = 'connecting' | 'online' | 'offline' | 'signInAgain';

export const DEFAULT_BACKOFF: Backoff = { firstMs: 1000, maxMs: 30_000 };

/** What the link needs of a connection: whether it is open, and closing it. */
export interface LinkConnection {
  readonly open: boolean;
  close(): Promise<void>;
}

export interface RelayLinkOptions<C extends LinkConnection> {
  readonly scheduler: Scheduler;
  readonly backoff?: Backoff | undefined;
  /** Jitter source in [0, 1): each wait is 80-120 % of the back-off, so workstations do not reconnect in step. */
  readonly random?: () => number;
  /** Opens a connection; `onClose` is called when it drops. */
  readonly connect: (onClose: () => void) => Promise<C>;
  /**
   * Every change of state, for the UI (`connecting`, `online`, `offline`; `signInAgain`: offline because the
   * relay wants this workstation to sign in at the hospital's identity provider again, REAUTHENTICATION_REQUIRED).
   */
  readonly onState: (state: LinkState) => void;
  /** Runs each time a connection opened (after `online`); if it throws, the link counts that as a failure. */
  readonly onOpen: () => Promise<void> | void;
}

/**
 * The connection to the relay, kept up until stop(): after a failure or a drop it tries again after a
 * back-off that doubles up to the longest, with jitter, on the injected scheduler (so tests run it in
 * virtual time); a connection that opens resets the back-off. A relay that refused the connection with a
 * Retry-After (RELAY_BUSY while it sheds a reconnect storm) is not tried again before then: the wait is
 * Retry-After plus up to half of it again (at least the current back-off), so the workstations it turned
 * away at once do not come back in step. Such a refusal does not double the back-off: the relay said when
 * to come back, and it spreads the return times itself; doubling on top would leave workstations waiting
 * long after the relay has room for them.
 */
export class RelayLink<C extends LinkConnection> {
  readonly #options: RelayLinkOptions<C>;
  readonly #backoff: Backoff;
  #connection: C | undefined;
  #running = false;
  #backoffMs: number;
  #retry: Cancellable | undefined;

  constructor(options: RelayLinkOptions<C>) {
    this.#options = options;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#backoffMs = this.#backoff.firstMs;
  }

  /** The open connection, if there is one. */
  get connection(): C | undefined {
    return this.#connection;
  }

  get online(): boolean {
    return this.#connection?.open ?? false;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#connect();
  }

  /** Stops trying, and closes the connection. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#retry?.cancel();
    this.#retry = undefined;
    await this.#connection?.close();
    this.#connection = undefined;
  }

  async #connect(): Promise<void> {
    if (!this.#running) return;
    this.#options.onState('connecting');
    let connection: C | undefined;
    try {
      connection = await this.#options.connect(() => {
        // Only the current connection's end matters: one given up on below (or replaced) says nothing.
        if (connection !== undefined && this.#connection !== connection) return;
        this.#connection = undefined;
        this.#options.onState('offline');
        this.#scheduleRetry();
      });
      this.#connection = connection;
      if (!this.#running) {
        // Stopped (locked) while the connection was opening: close it, say nothing, touch nothing.
        this.#connection = undefined;
        await connection.close();
        return;
      }
      this.#backoffMs = this.#backoff.firstMs;
      this.#options.onState('online');
      await this.#options.onOpen();
    } catch (error) {
      // Opened but not usable (its keys could not be uploaded, say): closed, so no orphan socket stays
      // open beside the next one, and tried again after the back-off.
      if (connection && this.#connection === connection) {
        this.#connection = undefined;
        connection.close().catch(() => undefined);
      }
      // Trying again goes on (a sign-in on another workstation of hers does not renew this one, but the
      // relay's policy may change); the UI offers the sign-in meanwhile.
      this.#options.onState(error instanceof RelayRequestError && error.code === 'REAUTHENTICATION_REQUIRED' ? 'signInAgain' : 'offline');
      this.#scheduleRetry(error instanceof RelayRequestError ? error.details.retryAfterMs : undefined);
    }
  }

  #scheduleRetry(retryAfterMs?: number): void {
    if (!this.#running || this.#retry) return;
    const random = this.#options.random ?? Math.random;
    const backoff = this.#backoffMs * (0.8 + random() * 0.4);
    const delay = retryAfterMs === undefined ? backoff : Math.max(backoff, retryAfterMs * (1 + random() * 0.5));
    if (retryAfterMs === undefined) this.#backoffMs = Math.min(this.#backoff.maxMs, this.#backoffMs * 2);
    this.#retry = this.#options.scheduler.after(delay, () => {
      this.#retry = undefined;
      void this.#connect();
    });
  }
}
