import type { DeviceAddress } from '../../shared/ids';
import { RelayFailure } from '../RelayFailure';

/** How soon a device refused for too many transfers at once should try again (one of its others is likely done). */
const RETRY_SECONDS = 1;

/**
 * The blob uploads and downloads each device has under way on this relay instance: a device past `max` is
 * refused (BLOB_RATE_LIMITED, Retry-After) rather than let hold more of the relay's memory and connections.
 */
export class TransfersUnderWay {
  readonly #count = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Admits one more transfer for the device, or refuses it; the function given back ends it (once). */
  enter(device: DeviceAddress): () => void {
    const key = `${device.userId}.${device.deviceId}`;
    const now = this.#count.get(key) ?? 0;
    if (now >= this.max) {
      throw new RelayFailure('BLOB_RATE_LIMITED', `this device has ${this.max} attachment transfers under way already; try again in ${RETRY_SECONDS} s`, { retryAfterSeconds: RETRY_SECONDS, retryAfterMs: RETRY_SECONDS * 1000 });
    }
    this.#count.set(key, now + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const remaining = (this.#count.get(key) ?? 1) - 1;
      if (remaining <= 0) this.#count.delete(key);
      else this.#count.set(key, remaining);
    };
  }

  /** Transfers under way for the device (for tests and metrics). */
  underWay(device: DeviceAddress): number {
    return this.#count.get(`${device.userId}.${device.deviceId}`) ?? 0;
  }
}
