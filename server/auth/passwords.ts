import argon2 from 'argon2';
import { blocklistOf, passwordProblems } from '../../shared/passwordPolicy';
import { RelayFailure } from '../RelayFailure';
import { QueueFullError, Semaphore } from './KeyedMutex';
import { DEFAULT_ARGON2, type Argon2Params } from './argon2Params';

/** Argon2 computations at once (64 MiB each by default). */
const HASH_SLOTS = 4;
/**
 * Attempts allowed to wait for a slot. Past this the relay answers THROTTLED with Retry-After at once
 * instead of queueing: a flood cannot make everyone after it wait behind a long line of hashes.
 */
export const MAX_WAITING_HASHES = 16;
/**
 * Proven workstations' checks that may wait at the front of the line at once. Each account's
 * workstations sign in one at a time (AccountService), so filling this takes several accounts; past it
 * such checks take the ordinary line, and an ordinary sign-in is overtaken by at most this many.
 */
export const MAX_URGENT_WAITING = HASH_SLOTS;

/**
 * Argon2id for passwords (RFC 9106 second recommendation by default: 64 MiB, 3 passes). Hashing runs on
 * libuv's thread pool, not on the event loop. The parameters travel inside each hash, so raising them
 * later does not break existing passwords.
 */
export class PasswordHasher {
  readonly #params: Argon2Params;
  /** A burst of sign-ins cannot exhaust memory (slots), nor stall sign-in for minutes (a bounded line). */
  readonly #slots: Semaphore;
  /** A running average of one hash's duration, for an honest Retry-After. */
  #averageMs = 500;
  #dummy: Promise<string> | undefined;

  constructor(params: Argon2Params = DEFAULT_ARGON2, maxWaiting = MAX_WAITING_HASHES) {
    this.#params = params;
    this.#slots = new Semaphore(HASH_SLOTS, maxWaiting, MAX_URGENT_WAITING);
  }

  /**
   * `urgent`: an attempt from a proven enrolled workstation goes to the front of the line and is not
   * shed, up to MAX_URGENT_WAITING at a time (past that it waits in the ordinary line).
   */
  hash(password: string, options: { urgent?: boolean } = {}): Promise<string> {
    return this.#run(() => argon2.hash(password, { type: argon2.argon2id, memoryCost: this.#params.memoryKiB, timeCost: this.#params.passes, parallelism: this.#params.parallelism }), options);
  }

  /** False for a wrong password or a malformed hash; throws THROTTLED (nothing was checked) when the line is full. */
  verify(hash: string, password: string, options: { urgent?: boolean } = {}): Promise<boolean> {
    return this.#run(() => argon2.verify(hash, password).catch(() => false), options);
  }

  /** Spends the same time as a real check, for unknown usernames (no timing oracle for who exists). */
  async verifyNothing(password: string, options: { urgent?: boolean } = {}): Promise<false> {
    // Forgotten if it failed (shed by a full line): the next call tries again.
    this.#dummy ??= this.hash('not a real password, used for timing only', { urgent: true }).catch((error: unknown) => {
      this.#dummy = undefined;
      throw error;
    });
    await this.verify(await this.#dummy, password, options);
    return false;
  }

  async #run<T>(work: () => Promise<T>, options: { urgent?: boolean }): Promise<T> {
    try {
      return await this.#slots.run(async () => {
        const started = performance.now();
        try {
          return await work();
        } finally {
          this.#averageMs = 0.8 * this.#averageMs + 0.2 * (performance.now() - started);
        }
      }, options);
    } catch (error) {
      if (!(error instanceof QueueFullError)) throw error;
      // Roughly when the line ahead will have drained.
      const retryAfterMs = Math.max(1000, Math.ceil(((error.waiting + 1) * this.#averageMs) / HASH_SLOTS));
      throw new RelayFailure('THROTTLED', 'the relay is busy checking other sign-ins; try again shortly', { retryAfterSeconds: Math.ceil(retryAfterMs / 1000), retryAfterMs });
    }
  }
}

let commonPasswords: Promise<ReadonlySet<string>> | undefined;

/**
 * The relay's password policy, with the common-password blocklist. The list is loaded the first time a password
 * is chosen, not when the relay starts: most relays hold it never or once a day (8 MiB of memory otherwise).
 */
export async function checkPasswordPolicy(password: string, contextWords: readonly string[]): Promise<string[]> {
  commonPasswords ??= import('@zxcvbn-ts/language-common').then(({ dictionary }) => blocklistOf(dictionary['passwords-common'] as string[]));
  return passwordProblems(password, { commonPasswords: await commonPasswords, contextWords: [...contextWords, 'rounds'] });
}
