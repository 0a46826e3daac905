/*
 * One device's live WebSocket as delivery holds it (DeliveryHub): the window of envelopes pushed and not yet
 * acknowledged, and writing frames to it (a turn's frames in one write, the send buffer bounded).
 */
import type { WebSocket } from 'ws';
import type { DeviceAddress, EnvelopeId } from '../../shared/ids';
import type { ServerFrame } from '../../shared/wire/relay';
import type { StoredEnvelope } from '../storage/RelayStore';

/** Pushed but not yet acknowledged, per connection: past this the relay waits for acks. */
export const MAX_IN_FLIGHT = 500;
export const MAX_IN_FLIGHT_BYTES = 8 * 1024 * 1024;
/** The socket's send buffer is allowed to hold this much before the pump waits for it to drain. */
export const MAX_BUFFERED = 1024 * 1024;

/** What corking needs of the stream under a WebSocket (a net.Socket or tls.TLSSocket). */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

export interface Connection {
  readonly socket: WebSocket;
  readonly stream: Corkable | undefined;
  /** The stream holds this turn's frames, to write them together at its end. */
  corked: boolean;
  readonly address: DeviceAddress;
  readonly credentialHash: string;
  /** Highest queue position pushed on this connection; unacknowledged envelopes come again on reconnect. */
  lastPushed: number;
  readonly inFlight: Map<EnvelopeId, number>;
  inFlightBytes: number;
  pumping: boolean;
  again: boolean;
  /**
   * The last read found the end of the queue (a short page), not a full window: an acknowledgement then has
   * nothing to let through, and what is queued later is announced (envelopesQueued, resync) and read then.
   */
  drained: boolean;
  alive: boolean;
  /** The connect-time queue is not fully pushed yet: say `queueEmpty` once it is. */
  announceEmpty: boolean;
  readonly timers: NodeJS.Timeout[];
}

/**
 * Sends one envelope and counts it in flight, unless the window's byte cap stops it: the cap holds per envelope,
 * not per page, so the next one waits for acknowledgements unless nothing is in flight (an envelope larger than
 * the cap still goes, alone). False when it did not go.
 */
export function pushEnvelope(connection: Connection, e: StoredEnvelope): boolean {
  if (connection.inFlight.size > 0 && connection.inFlightBytes + e.content.length > MAX_IN_FLIGHT_BYTES) return false;
  send(connection, { type: 'envelope', envelope: { id: e.id, type: e.type, sender: e.sender, recipient: e.recipient, content: e.content, serverTimestamp: e.acceptedAt } });
  connection.lastPushed = e.seq;
  connection.inFlight.set(e.id, e.content.length);
  connection.inFlightBytes += e.content.length;
  return true;
}

/** The longest delay a Node timer takes (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Ends the connection's socket `inMs` from now (in steps, past what one timer can wait: re-authentication is days away). */
export function endAt(connection: Connection, inMs: number): void {
  const step = Math.min(Math.max(0, inMs), MAX_TIMER_MS);
  connection.timers.push(setTimeout(() => (inMs > MAX_TIMER_MS ? endAt(connection, inMs - MAX_TIMER_MS) : connection.socket.terminate()), step));
}

export function send(connection: Connection, frame: ServerFrame | string): void {
  if (connection.socket.readyState !== connection.socket.OPEN) return;
  // A busy relay sends a connection several frames a turn (answers, envelopes): one system call, not one each.
  const { stream } = connection;
  if (stream && !connection.corked) {
    connection.corked = true;
    stream.cork();
    setImmediate(() => {
      connection.corked = false;
      stream.uncork();
    });
  }
  connection.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
}

/** Waits until the socket's send buffer is below MAX_BUFFERED (or the socket is gone). */
export async function drained(socket: WebSocket): Promise<void> {
  while (socket.bufferedAmount > MAX_BUFFERED && socket.readyState === socket.OPEN) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
