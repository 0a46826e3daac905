import type { WebSocket } from 'ws';
import { describeError } from '../../shared/errors';
import { assertNever } from '../../shared/exhaustive';
import { addressKey, type DeviceAddress, type UserId } from '../../shared/ids';
import type { PreKeyCount } from '../../shared/wire/keys';
import { ClientFrameSchema, type ServerFrame } from '../../shared/wire/relay';
import type { DeliveryNotifier, MessageService } from '../MessageService';
import { RelayFailure } from '../RelayFailure';
import type { CommittedEnvelope, RelayStore } from '../storage/RelayStore';
import type { RelayLog } from './relayLog';
import { MAX_BUFFERED, MAX_IN_FLIGHT, MAX_IN_FLIGHT_BYTES, drained, endAt, pushEnvelope, send, type Connection, type Corkable } from './deviceConnection';

/** Envelopes read from the queue per query. */
const PAGE = 100;
const HEARTBEAT_MS = 30_000;
/** Refusals by the relay's limits: their error frames say when to come back, or whose queue is full. */
const LIMIT_CODES: ReadonlySet<string> = new Set(['RECIPIENT_QUEUE_FULL', 'SEND_RATE_LIMITED', 'KEY_FETCH_RATE_LIMITED', 'RELAY_STORAGE_FULL', 'RELAY_UNAVAILABLE']);

/** Re-checks, for every frame, that the device may still act (not revoked, not expired, same credential). */
export type ConnectionCheck = (connection: { address: DeviceAddress; credentialHash: string }) => Promise<void>;

/** An acknowledgement waiting for its commit: the connection it came on, and whether it named envelopes that connection was not sent. */
interface PendingAck {
  readonly from: Connection;
  readonly foreign: boolean;
  readonly settled: Promise<void>;
}

/** The longest a read waits for a device's pending acknowledgements (they commit within ~20 ms). */
const ACK_WAIT_MS = 1000;

/**
 * The authenticated WebSocket side of delivery: one live connection per device. A device's queue is
 * pushed in order when it connects and whenever something new is queued for it, at most MAX_IN_FLIGHT
 * unacknowledged envelopes at a time; envelopes leave the queue only when the device acknowledges them.
 */
export class DeliveryHub implements DeliveryNotifier {
  readonly #connections = new Map<string, Connection>();
  /**
   * Per device, its acknowledgements not yet committed (a few milliseconds: they ride with the next sends),
   * each with the connection it came on and whether it named envelopes that connection was not sent. One
   * relay's: a reconnect that reaches another relay instance may get a repeat, which the app drops.
   */
  readonly #acks = new Map<string, Set<PendingAck>>();
  #messages: MessageService | undefined;

  constructor(
    private readonly store: RelayStore,
    private readonly check: ConnectionCheck,
    private readonly log: RelayLog,
  ) {}

  bind(messages: MessageService): void {
    this.#messages = messages;
  }

  get connected(): number {
    return this.#connections.size;
  }

  /**
   * Takes over an authenticated socket. `endsAt` (an emergency sign-in's end, or re-authentication due) ends
   * it by itself. `stream` is the connection under the WebSocket: frames sent to it in one turn of the event
   * loop leave in one write.
   */
  attach(socket: WebSocket, address: DeviceAddress, credentialHash: string, endsAt: number | null, now: number, stream?: Corkable): void {
    const key = addressKey(address);
    this.#connections.get(key)?.socket.terminate();
    const connection: Connection = { socket, stream, corked: false, address, credentialHash, lastPushed: 0, inFlight: new Map(), inFlightBytes: 0, pumping: false, again: false, drained: false, alive: true, announceEmpty: false, timers: [] };
    this.#connections.set(key, connection);
    socket.on('message', (data, isBinary) => void this.#onFrame(connection, data.toString(), isBinary));
    socket.on('pong', () => (connection.alive = true));
    socket.on('close', () => {
      for (const timer of connection.timers) clearTimeout(timer);
      if (this.#connections.get(key) === connection) this.#connections.delete(key);
    });
    socket.on('error', (error) => this.log(`socket error for ${key}: ${describeError(error)}`, 'warn', { device: key }));
    if (endsAt !== null) endAt(connection, endsAt - now);
    // A peer that stops answering pings is gone: free its buffers.
    const heartbeat = setInterval(() => {
      if (!connection.alive) return socket.terminate();
      connection.alive = false;
      socket.ping();
    }, HEARTBEAT_MS);
    heartbeat.unref();
    connection.timers.push(heartbeat);
    void this.#pump(connection, true);
  }

  /** Keeps an acknowledgement in #acks from now until its commit (whatever its outcome); resolves with it. */
  async #acknowledging(connection: Connection, foreign: boolean, done: Promise<unknown>): Promise<void> {
    const key = addressKey(connection.address);
    const pending: PendingAck = { from: connection, foreign, settled: done.then(() => undefined, () => undefined) };
    const set = this.#acks.get(key) ?? new Set<PendingAck>();
    set.add(pending);
    this.#acks.set(key, set);
    try {
      await done;
    } finally {
      set.delete(pending);
      if (set.size === 0 && this.#acks.get(key) === set) this.#acks.delete(key);
    }
  }

  /**
   * Before `connection` reads its queue: the device's acknowledgements still waiting for their commit that
   * this connection's position does not already pass (those of another socket, or naming envelopes another
   * socket was sent) are written first, or they would be pushed again (up to ACK_WAIT_MS, then read anyway:
   * the app drops a repeat). Those of this connection for what it pushed lie behind its position.
   */
  async #acksWritten(connection: Connection): Promise<void> {
    const waiting = () => [...this.#acks.get(addressKey(connection.address)) ?? []].filter((p) => p.from !== connection || p.foreign);
    let pending = waiting();
    if (pending.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const cap = new Promise<void>((resolve) => (timer = setTimeout(() => resolve(void (timedOut = true)), ACK_WAIT_MS)));
    // Those that came meanwhile are waited for too (they ride in the same commit, or the next).
    while (pending.length > 0 && !timedOut) {
      await Promise.race([Promise.all(pending.map((p) => p.settled)), cap]);
      pending = waiting();
    }
    clearTimeout(timer);
  }

  /**
   * Each recipient connected here reads its queue; or, with `committed` (what the store vouched for) and its
   * delivery caught up, is pushed its envelopes from memory without reading them back (#pushCommitted). Only the
   * envelopes of recipients connected here are sorted by device (with several instances, most are elsewhere).
   */
  envelopesQueued(recipients: readonly DeviceAddress[], committed?: readonly CommittedEnvelope[]): void {
    const here = new Map<string, { connection: Connection; committed: CommittedEnvelope[] }>();
    for (const recipient of recipients) {
      const key = addressKey(recipient);
      const connection = this.#connections.get(key);
      if (connection && !here.has(key)) here.set(key, { connection, committed: [] });
    }
    if (here.size === 0) return;
    for (const e of committed ?? []) here.get(addressKey(e.recipient))?.committed.push(e);
    // One with none of them (a resend found already queued) reads its queue, as before.
    for (const { connection, committed: theirs } of here.values()) void this.#pump(connection, false, theirs.length > 0 ? theirs : undefined);
  }

  /**
   * Connected here, its delivery caught up (its last read found the end of the queue) and not under way: only then
   * can #pump push a commit's envelopes from memory (asked inside the commit; if that changes before the push,
   * the delivery reads its queue as it would have).
   */
  canPushCommitted(device: DeviceAddress): boolean {
    const connection = this.#connections.get(addressKey(device));
    return connection !== undefined && connection.drained && !connection.pumping && !connection.announceEmpty;
  }

  /** Every connected device reads its queue again (news from other relay instances may have been missed). */
  resync(): void {
    for (const connection of this.#connections.values()) void this.#pump(connection, false);
  }

  keysLow(device: DeviceAddress, count: PreKeyCount): void {
    const connection = this.#connections.get(addressKey(device));
    if (connection) send(connection, { type: 'keysLow', preKeys: count });
  }

  /**
   * One frame to every connected device (colleagues' statuses changed): written once, sent to each, except to
   * a socket already holding a full send buffer (a device far behind reads statuses at its next minute anyway).
   */
  broadcast(frame: ServerFrame): void {
    const text = JSON.stringify(frame);
    for (const connection of this.#connections.values()) {
      if (connection.socket.bufferedAmount <= MAX_BUFFERED) send(connection, text);
    }
  }

  /**
   * Cuts off a revoked device, or every device of a deactivated account, at once. With `keep`, only the
   * device's sockets that authenticated with another credential than that one (a replaced credential).
   */
  disconnect(userId: UserId, deviceId: number | null, keep?: { credentialHash: string }): void {
    for (const connection of this.#connections.values()) {
      if (connection.address.userId !== userId || (deviceId !== null && connection.address.deviceId !== deviceId)) continue;
      if (keep && connection.credentialHash === keep.credentialHash) continue;
      connection.socket.terminate();
    }
  }

  closeAll(): void {
    for (const connection of this.#connections.values()) connection.socket.close(1001, 'relay shutting down');
  }

  async #onFrame(connection: Connection, text: string, isBinary: boolean): Promise<void> {
    let requestId: string | undefined;
    try {
      if (isBinary) throw new RelayFailure('BAD_REQUEST', 'frames are JSON text');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new RelayFailure('BAD_REQUEST', 'frame is not JSON');
      }
      requestId = typeof json === 'object' && json !== null && typeof (json as { requestId?: unknown }).requestId === 'string' ? (json as { requestId: string }).requestId.slice(0, 64) : undefined;
      const parsed = ClientFrameSchema.safeParse(json);
      if (!parsed.success) throw new RelayFailure('BAD_REQUEST', `invalid frame: ${parsed.error.issues[0]?.path.join('.') || 'shape'}`);
      const frame = parsed.data;
      const messages = this.#messages;
      if (!messages) throw new RelayFailure('INTERNAL', 'relay not ready');
      if (frame.type !== 'ping') await this.#authorize(connection);
      switch (frame.type) {
        case 'ack': {
          // The window opens at once: the pump reads past what it pushed, so acknowledged envelopes do not
          // come again on this connection while their removal waits for its group commit.
          const foreign = frame.ids.some((id) => !connection.inFlight.has(id));
          for (const id of frame.ids) {
            connection.inFlightBytes -= connection.inFlight.get(id) ?? 0;
            connection.inFlight.delete(id);
          }
          const acknowledged = this.#acknowledging(connection, foreign, messages.acknowledge(connection.address, frame.ids));
          const announce = connection.announceEmpty;
          connection.announceEmpty = false;
          // A read after every acknowledgement found nothing in most cases (one round trip a message on
          // PostgreSQL): only a window that was full, a read under way, or a queueEmpty owed needs one.
          if (announce || connection.pumping || !connection.drained) void this.#pump(connection, announce);
          await acknowledged;
          return;
        }
        case 'send': {
          const result = await messages.send(connection.address, frame.envelopes, { allOwnDevices: frame.allOwnDevices });
          send(connection, { type: 'sent', requestId: frame.requestId, ...result });
          return;
        }
        case 'ping':
          send(connection, { type: 'pong', requestId: frame.requestId });
          return;
        default:
          assertNever(frame, 'client frame');
      }
    } catch (error) {
      const failure = error instanceof RelayFailure ? error : new RelayFailure('INTERNAL', 'internal error');
      if (!(error instanceof RelayFailure)) this.log(`frame from ${addressKey(connection.address)} failed: ${describeError(error)}`, 'error', { device: addressKey(connection.address) });
      // The limits' codes carry their details (when to come back, whose queue is full); the older codes'
      // frames stay as they were, which clients from before these fields parse strictly.
      const { retryAfterMs, devices, share } = LIMIT_CODES.has(failure.code) ? failure.extra : {};
      send(connection, {
        type: 'error', code: failure.code, message: failure.message, ...(requestId ? { requestId } : {}),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), ...(devices ? { devices } : {}), ...(share ? { share } : {}),
      });
    }
  }

  /**
   * The device must still be allowed to act; if not, the error frame goes out, the socket is closed, and
   * cut off a second later if the client does not close its end.
   */
  async #authorize(connection: Connection): Promise<void> {
    try {
      await this.check(connection);
    } catch (error) {
      setImmediate(() => {
        connection.socket.close(4401, 'credential no longer valid');
        setTimeout(() => connection.socket.terminate(), 1000).unref();
      });
      throw error;
    }
  }

  /**
   * Pushes envelopes just committed for this device from memory, in queue order, as long as each one's
   * predecessor in the queue at its commit (`after`) is at or before what this connection pushed last: then
   * nothing lies between in the queue, and none can land there later (the store vouched for that). One pushed
   * already (a read got it first) is passed over. False at the first that cannot go so (something between not
   * pushed yet, the window or the socket's buffer full, the socket gone): the read takes over from `lastPushed`.
   */
  #pushCommitted(connection: Connection, committed: readonly CommittedEnvelope[]): boolean {
    for (const e of committed) {
      if (e.seq <= connection.lastPushed) continue;
      if (e.after > connection.lastPushed || connection.socket.readyState !== connection.socket.OPEN) return false;
      if (connection.inFlight.size >= MAX_IN_FLIGHT || connection.socket.bufferedAmount > MAX_BUFFERED || !pushEnvelope(connection, e)) return false;
    }
    return true;
  }

  /**
   * Pushes the connection's queue from where it left off (`lastPushed`), reading it page by page. `committed`
   * (this device's envelopes a commit just queued, in queue order) go from memory when the delivery is caught up
   * (its last read found the end of the queue, nothing owed): see #pushCommitted. Anything else is read.
   */
  async #pump(connection: Connection, announceEmpty: boolean, committed?: readonly CommittedEnvelope[]): Promise<void> {
    if (connection.pumping) {
      connection.again = true;
      if (announceEmpty) connection.announceEmpty = true;
      return;
    }
    connection.pumping = true;
    const caughtUp = connection.drained && !announceEmpty && !connection.announceEmpty;
    connection.drained = false;
    const open = () => connection.socket.readyState === connection.socket.OPEN;
    // A socket that only receives sends no frame to be checked at: what it is sent is checked here (the device
    // revoked, an emergency sign-in over, re-authentication due; remembered, so mostly no database read).
    try {
      await this.#authorize(connection);
    } catch {
      connection.pumping = false;
      return;
    }
    /**
     * True once a read found nothing more: only then is the queue empty (not merely paused at the limit). Also
     * when the envelopes a commit just queued went from memory to a caught-up delivery, and nothing came since
     * (no await between this and the check of `again`: a commit announced meanwhile has set it already).
     */
    let drainedQueue: boolean;
    try {
      drainedQueue = committed !== undefined && caughtUp && this.#pushCommitted(connection, committed) && !connection.again;
      if (!drainedQueue) do {
        connection.again = false;
        // Each pass decides afresh: a pass that cannot read (the window full) has not found the end.
        drainedQueue = false;
        let full = false;
        while (!full && open() && connection.inFlight.size < MAX_IN_FLIGHT && connection.inFlightBytes < MAX_IN_FLIGHT_BYTES) {
          const limit = Math.min(PAGE, MAX_IN_FLIGHT - connection.inFlight.size);
          await this.#acksWritten(connection);
          const page = await this.store.queued(connection.address, connection.lastPushed, limit);
          // A short page is the end of the queue as it stood: what is queued after it sets `again`.
          drainedQueue = page.length < limit;
          for (const e of page) {
            if (!open()) break;
            if (!pushEnvelope(connection, e)) {
              full = true;
              drainedQueue = false;
              break;
            }
            await drained(connection.socket);
          }
          if (page.length < limit) break;
        }
      } while (connection.again && open());
      connection.drained = drainedQueue;
      if (announceEmpty && drainedQueue && open()) send(connection, { type: 'queueEmpty' });
      else if (announceEmpty) connection.announceEmpty = true;
    } catch (error) {
      this.log(`delivery to ${addressKey(connection.address)} failed: ${describeError(error)}`, 'error', { device: addressKey(connection.address) });
    } finally {
      connection.pumping = false;
    }
  }
}
