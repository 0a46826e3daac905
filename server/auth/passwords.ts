import { dictionary } from '@zxcvbn-ts/language-common';
import argon2 from 'argon2';
import { passwordProblems } from '../../shared/passwordPolicy';
import { Semaphore } from './KeyedMutex';

/**
 * Argon2id for passwords (RFC 9106 second recommendation by default: 64 MiB, 3 passes). Hashing runs on
 * libuv's thread pool, not on the event loop. The parameters travel inside each hash, so raising them
 * later does not break existing passwords.
 */
export interface Argon2Params {
  readonly memoryKiB: number;
  readonly passes: number;
  readonly parallelism: number;
}

export const DEFAULT_ARGON2: Argon2Params = { memoryKiB: 64 * 1024, passes: 3, parallelism: 4 };

export class PasswordHasher {
  readonly #params: Argon2Params;
  /** Four Argon2 computations at a time (64 MiB each): a burst of sign-ins cannot exhaust memory. */
  readonly #slots = new Semaphore(4);
  #dummy: Promise<string> | undefined;

  constructor(params: Argon2Params = DEFAULT_ARGON2) {
    this.#params = params;
  }

  hash(password: string): Promise<string> {
    return this.#slots.run(() => argon2.hash(password, { type: argon2.argon2id, memoryCost: this.#params.memoryKiB, timeCost: this.#params.passes, parallelism: this.#params.parallelism }));
  }

  async verify(hash: string, password: string): Promise<boolean> {
    try {
      return await this.#slots.run(() => argon2.verify(hash, password));
    } catch {
      return false;
    }
  }

  /** Spends the same time as a real check, for unknown usernames (no timing oracle for who exists). */
  async verifyNothing(password: string): Promise<false> {
    this.#dummy ??= this.hash('not a real password, used for timing only');
    await this.verify(await this.#dummy, password);
    return false;
  }
}

let common: ReadonlySet<string> | undefined;

/** About 49,000 of the most used passwords (the zxcvbn-ts common list), lower-cased. */
export function commonPasswords(): ReadonlySet<string> {
  common ??= new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  return common;
}

export function checkPasswordPolicy(password: string, contextWords: readonly string[]): string[] {
  return passwordProblems(password, { commonPasswords: commonPasswords(), contextWords: [...contextWords, 'rounds'] });
}
