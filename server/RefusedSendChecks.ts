import { refilledTokens, retryAfterMs, type RateBucket, type RateLimit } from './RateLimiter';
import { RelayFailure } from './RelayFailure';

/**
 * Users a device's refused sends may name a minute: as many as the default send rate lets it address (such sends
 * were once charged to it). A client reads its directory again after one refusal; only one that never does comes near.
 */
const USERS_PER_MINUTE = 12_000;

/** What run() needs besides the check: how many users the send names, and how its refusal is audited. */
export interface RefusedSendCheck {
  readonly namedUsers: () => number;
  readonly noteRefusal: (at: number) => Promise<void>;
}

/**
 * What the device check of sends it refuses (UNKNOWN_DEVICE) may cost the relay, per sending device. Such a send
 * is not charged to the send rate (the corrected send after it must find it untouched), but its check read the
 * device lists of the users it named, a read of the store for each one not remembered: without a bound of its
 * own, a device naming unknown users over and over would have the relay read without end. So the users named by
 * a device's refused sends are counted against `limit` (a token bucket, as the rate limits are); while it is
 * empty, the device's sends are refused before any check (SEND_RATE_LIMITED). In this process's memory: a
 * device spreading its sends over instances gets each instance's allowance, each instance's reads bounded.
 */
export class RefusedSendChecks {
  readonly #buckets = new Map<string, RateBucket>();

  constructor(private readonly limit: RateLimit = { amount: USERS_PER_MINUTE, windowMs: 60_000 }) {}

  /**
   * Runs `check`, the device check of a send of `device`'s, unless the users named by its refused sends have used up
   * its allowance: then refuses (SEND_RATE_LIMITED, with Retry-After) once the refusal is audited. A check that
   * refuses the send (UNKNOWN_DEVICE) counts the users it named (the bucket empties, never below).
   */
  async run(device: string, now: number, check: () => Promise<void>, send: RefusedSendCheck): Promise<void> {
    const tokens = this.#tokens(device, now);
    if (tokens < 1) {
      await send.noteRefusal(now);
      const waitMs = retryAfterMs(1, tokens, this.limit);
      const seconds = Math.ceil(waitMs / 1000);
      throw new RelayFailure('SEND_RATE_LIMITED', `this device has sent more messages for devices that are not there than the relay checks in a minute (its directory needs reading again); try again in ${seconds} s`, { retryAfterSeconds: seconds, retryAfterMs: waitMs });
    }
    try {
      await check();
    } catch (error) {
      if (error instanceof RelayFailure && error.code === 'UNKNOWN_DEVICE') {
        // Read again: other refused sends of the device's may have counted while this one was checked.
        const left = this.#tokens(device, now);
        this.#buckets.set(device, { tokens: Math.max(0, left - send.namedUsers()), at: Math.max(now, this.#buckets.get(device)?.at ?? now), limit: this.limit });
      }
      throw error;
    }
  }

  /** What `device`'s bucket holds at `now` (a device without one: a full bucket). */
  #tokens(device: string, now: number): number {
    const bucket = this.#buckets.get(device);
    return bucket ? refilledTokens(bucket.tokens, bucket.at, this.limit, now) : this.limit.amount;
  }

  /** Forgets the devices whose bucket has filled up again (a full one behaves as an absent one). */
  prune(now: number): void {
    for (const [device, bucket] of this.#buckets) {
      if (refilledTokens(bucket.tokens, bucket.at, this.limit, now) >= this.limit.amount) this.#buckets.delete(device);
    }
  }
}
