/**
 * What both stores' queues need of a send request: its envelopes by recipient device (a device's envelopes
 * of one request are queued or refused together), in one order of keys, so that stores which lock per queue
 * always take the locks in the same order.
 */
import type { DeviceAddress } from '../../shared/ids';
import type { NewEnvelope } from './RelayStore';

export interface RecipientBatch {
  readonly recipient: DeviceAddress;
  /** Positions in the request of the envelopes for this device. */
  readonly indices: number[];
  /** Their ciphertext bytes, as the queue counts them. */
  bytes: number;
}

export function byRecipientDevice(envelopes: readonly NewEnvelope[]): RecipientBatch[] {
  const byDevice = new Map<string, RecipientBatch>();
  envelopes.forEach((envelope, i) => {
    const key = `${envelope.recipient.userId}.${envelope.recipient.deviceId}`;
    const entry = byDevice.get(key) ?? { recipient: envelope.recipient, indices: [], bytes: 0 };
    entry.indices.push(i);
    entry.bytes += ciphertextBytes(envelope.content);
    byDevice.set(key, entry);
  });
  return [...byDevice].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, batch]) => batch);
}

/** Bytes of ciphertext in base64 content, counted as the queue triggers count them (characters * 3/4, rounded down). */
export function ciphertextBytes(content: string): number {
  return Math.floor((content.length * 3) / 4);
}
