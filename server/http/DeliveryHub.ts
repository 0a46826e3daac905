import type { WebSocket } from 'ws';
import { describeError } from '../../shared/errors';
import { addressKey, type DeviceAddress, type UserId } from '../../shared/ids';
import type { PreKeyCount } from '../../shared/wire/keys';
import { ClientFrameSchema, type ServerFrame } from '../../shared/wire/relay';
import type { DeliveryNotifier, MessageService } from '../MessageService';
import { RelayFailure } from '../RelayFailure';
import type { RelayStore } from '../storage/RelayStore';

const PAGE = 200;

interface Connection {
  readonly socket: WebSocket;
  readonly address: DeviceAddress;
  /** Highest queue position pushed on this connection; unacknowledged envelopes come again on reconnect. */
  lastPushed: number;
  pumping: boolean;
  again: boolean;
}

/**
 * The authenticated WebSocket side of delivery: one live connection per device. A device's queue is
 * pushed in order when it connects and whenever something new is queued for it; envelopes leave the
 * queue only when the device acknowledges them.
 */
export class DeliveryHub implements DeliveryNotifier {
  readonly #connections = new Map<string, Connection>();
  #messages: MessageService | undefined;

  constructor(
    private readonly store: RelayStore,
    private readonly log: (message: string) => void,
  ) {}

  bind(messages: MessageService): void {
    this.#messages = messages;
  }

  get connected(): number {
    return this.#connections.size;
  }

  attach(socket: WebSocket, address: DeviceAddress): void {
    const key = addressKey(address);
    this.#connections.get(key)?.socket.close(4000, 'replaced by a newer connection');
    const connection: Connection = { socket, address, lastPushed: 0, pumping: false, again: false };
    this.#connections.set(key, connection);
    socket.on('message', (data, isBinary) => void this.#onFrame(connection, data.toString(), isBinary));
    socket.on('close', () => {
      if (this.#connections.get(key) === connection) this.#connections.delete(key);
    });
    socket.on('error', (error) => this.log(`socket error for ${key}: ${describeError(error)}`));
    void this.#pump(connection, true);
  }

  envelopesQueued(recipients: readonly DeviceAddress[]): void {
    for (const key of new Set(recipients.map(addressKey))) {
      const connection = this.#connections.get(key);
      if (connection) void this.#pump(connection, false);
    }
  }

  keysLow(device: DeviceAddress, count: PreKeyCount): void {
    const connection = this.#connections.get(addressKey(device));
    if (connection) send(connection, { type: 'keysLow', preKeys: count });
  }

  /** Closes the connection of a revoked device, or of every device of a deactivated account. */
  disconnect(userId: UserId, deviceId: number | null, reason: string): void {
    for (const connection of this.#connections.values()) {
      if (connection.address.userId === userId && (deviceId === null || connection.address.deviceId === deviceId)) connection.socket.close(4001, reason);
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
      switch (frame.type) {
        case 'ack':
          await messages.acknowledge(connection.address, frame.ids);
          return;
        case 'send': {
          const result = await messages.send(connection.address, frame.envelopes);
          send(connection, { type: 'sent', requestId: frame.requestId, ...result });
          return;
        }
        case 'ping':
          send(connection, { type: 'pong', requestId: frame.requestId });
          return;
      }
    } catch (error) {
      const failure = error instanceof RelayFailure ? error : new RelayFailure('INTERNAL', 'internal error');
      if (!(error instanceof RelayFailure)) this.log(`frame from ${addressKey(connection.address)} failed: ${describeError(error)}`);
      send(connection, { type: 'error', code: failure.code, message: failure.message, ...(requestId ? { requestId } : {}) });
    }
  }

  async #pump(connection: Connection, announceEmpty: boolean): Promise<void> {
    if (connection.pumping) {
      connection.again = true;
      return;
    }
    connection.pumping = true;
    try {
      do {
        connection.again = false;
        for (;;) {
          const page = await this.store.queued(connection.address, connection.lastPushed, PAGE);
          for (const e of page) {
            send(connection, { type: 'envelope', envelope: { id: e.id, type: e.type, sender: e.sender, recipient: e.recipient, content: e.content, serverTimestamp: e.acceptedAt } });
            connection.lastPushed = e.seq;
          }
          if (page.length < PAGE) break;
          await drained(connection.socket);
        }
      } while (connection.again && connection.socket.readyState === connection.socket.OPEN);
      if (announceEmpty) send(connection, { type: 'queueEmpty' });
    } catch (error) {
      this.log(`delivery to ${addressKey(connection.address)} failed: ${describeError(error)}`);
    } finally {
      connection.pumping = false;
    }
  }
}

function send(connection: Connection, frame: ServerFrame): void {
  if (connection.socket.readyState === connection.socket.OPEN) connection.socket.send(JSON.stringify(frame));
}

/** Lets the socket flush before the next page, so a long queue does not pile up in memory. */
function drained(socket: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.bufferedAmount < 1024 * 1024) resolve();
    else setTimeout(resolve, 10);
  });
}
