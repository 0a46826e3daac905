import WebSocket from 'ws';
import { assertNever } from '../../../shared/exhaustive';
import { LIMITS } from '../../../shared/limits';
import type { EnvelopeId, UserId } from '../../../shared/ids';
import { PreKeyCountSchema, type PreKeyCount } from '../../../shared/wire/keys';
import { ServerFrameSchema, type ClientFrame, type RelayErrorCode, type DeliveredEnvelope, type OutgoingEnvelope, type SendResponse, type ServerFrame } from '../../../shared/wire/relay';
import { RelayRequestError } from './RelayRequestError';
import { tolerant } from '../../../shared/wire/tolerant';

export interface ConnectionHandlers {
  onEnvelope(envelope: DeliveredEnvelope): void;
  onQueueEmpty?(): void;
  onKeysLow?(count: PreKeyCount): void;
  /** These users' statuses (perhaps the user's own) changed on the relay. */
  onPresenceChanged?(userIds: readonly UserId[]): void;
  onClose?(code: number, reason: string): void;
}

/**
 * The largest frame a relay sends: one envelope (at most LIMITS.maxEnvelopeContentChars of base64, the ceiling of
 * every relay's --max-envelope-kib) with its addressing, or a `sent` frame naming up to 1000 envelopes; 1 MiB covers
 * all but the content. A larger frame closes the socket (1009) before it is held: a hostile relay cannot make the
 * workstation take in 100 MiB (the `ws` default) per frame.
 */
export const MAX_SERVER_FRAME_BYTES = LIMITS.maxEnvelopeContentChars + 1024 * 1024;

/** An open WebSocket to the relay: envelopes arrive through the handlers; ack() removes them. */
export class RelayConnection {
  readonly #socket: WebSocket;
  readonly #pending = new Map<string, { resolve: (frame: ServerFrame) => void; reject: (error: Error) => void }>();
  #nextRequest = 0;

  constructor(socket: WebSocket, handlers: ConnectionHandlers) {
    this.#socket = socket;
    socket.on('message', (data) => {
      let json: unknown;
      try {
        json = JSON.parse(data.toString());
      } catch {
        return;
      }
      // Frames from a relay newer than this workstation may carry fields it does not know: dropped (tolerant.ts).
      const parsed = tolerant(ServerFrameSchema).safeParse(json);
      if (!parsed.success) return;
      const frame = parsed.data;
      switch (frame.type) {
        case 'envelope':
          handlers.onEnvelope(frame.envelope);
          return;
        case 'queueEmpty':
          handlers.onQueueEmpty?.();
          return;
        case 'presenceChanged':
          handlers.onPresenceChanged?.(frame.userIds);
          return;
        case 'keysLow':
          handlers.onKeysLow?.(PreKeyCountSchema.parse(frame.preKeys));
          return;
        case 'sent':
        case 'pong':
        case 'error': {
          const waiter = frame.requestId === undefined ? undefined : this.#pending.get(frame.requestId);
          if (!waiter || frame.requestId === undefined) return;
          this.#pending.delete(frame.requestId);
          if (frame.type === 'error') {
            const details = { ...(frame.retryAfterMs !== undefined ? { retryAfterMs: frame.retryAfterMs } : {}), ...(frame.devices ? { devices: frame.devices } : {}), ...(frame.share ? { share: frame.share } : {}) };
            waiter.reject(new RelayRequestError(frame.code as RelayErrorCode, frame.message, 0, details));
          }
          else waiter.resolve(frame);
          return;
        }
        default:
          assertNever(frame, 'server frame');
      }
    });
    // A frame past MAX_SERVER_FRAME_BYTES (or any other fault of the socket): 'close' follows, and says so.
    socket.on('error', () => undefined);
    socket.on('close', (code, reason) => {
      for (const waiter of this.#pending.values()) waiter.reject(new RelayRequestError('UNREACHABLE', 'connection closed', 0));
      this.#pending.clear();
      handlers.onClose?.(code, reason.toString());
    });
  }

  get open(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  ack(ids: readonly EnvelopeId[]): void {
    if (ids.length > 0) this.#frame({ type: 'ack', ids: [...ids] });
  }

  /** Sends envelopes over the socket; resolves when the relay has durably queued them, with each one's outcome. */
  /** `allOwnDevices`: as RelayClient.send. */
  async send(envelopes: readonly OutgoingEnvelope[], allOwnDevices = false): Promise<SendResponse> {
    const frame = await this.#request((requestId) => ({ type: 'send', requestId, envelopes: [...envelopes], ...(allOwnDevices ? { allOwnDevices } : {}) }));
    if (frame.type !== 'sent') throw new RelayRequestError('BAD_RESPONSE', 'unexpected answer to send', 0);
    return { accepted: frame.accepted, ...(frame.refused ? { refused: frame.refused } : {}), serverTimestamp: frame.serverTimestamp };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#socket.readyState === WebSocket.CLOSED) return resolve();
      this.#socket.once('close', () => resolve());
      this.#socket.close(1000, 'client closing');
    });
  }

  #request(build: (requestId: string) => ClientFrame): Promise<ServerFrame> {
    const requestId = String(++this.#nextRequest);
    return new Promise((resolve, reject) => {
      this.#pending.set(requestId, { resolve, reject });
      this.#frame(build(requestId));
    });
  }

  #frame(frame: ClientFrame): void {
    this.#socket.send(JSON.stringify(frame));
  }
}
