import { describeError } from '../../../shared/errors';
import type { RoundsError } from '../errors';
import { consoleLogger, type Logger } from '../Logger';
import type { ProtocolNamespace, ProtocolStorage, StorageWrite } from './ProtocolStorage';

/**
 * One protocol operation's unit of work. libsignal calls our stores several times per operation
 * (save session, remove prekey, save identity); the writes are staged here and committed together
 * only when the whole operation succeeded, so a failed or interrupted decrypt leaves storage as it was.
 * Reads see the staged writes first.
 */
export class StagedWrites {
  readonly #storage: ProtocolStorage;
  readonly #decoded: DecodedCache;
  readonly #staged = new Map<string, StorageWrite>();
  readonly #afterCommit: (() => void)[] = [];
  readonly #logger: Logger;

  constructor(storage: ProtocolStorage, decoded: DecodedCache = new Map(), logger: Logger = consoleLogger) {
    this.#storage = storage;
    this.#decoded = decoded;
    this.#logger = logger;
  }

  /**
   * Reads and decodes a value, reusing the decoded form of committed values (records parsed with a
   * schema are read on every libsignal callback). `decode` must return a value nobody mutates.
   */
  getDecoded<T>(ns: ProtocolNamespace, key: string, decode: (bytes: Uint8Array) => T): T | undefined {
    const at = slot(ns, key);
    const staged = this.#staged.get(at);
    if (staged) return staged.value === null ? undefined : decode(staged.value);
    const cached = this.#decoded.get(at);
    if (cached !== undefined) return cached as T;
    const bytes = this.#storage.get(ns, key);
    if (bytes === undefined) return undefined; // misses are not cached: their keys can be chosen by an attacker
    const value = decode(bytes);
    this.#decoded.set(at, value);
    return value;
  }

  /** Staged values are returned as a copy too, so a reader can never alter what will be committed. */
  get(ns: ProtocolNamespace, key: string): Uint8Array<ArrayBuffer> | undefined {
    const staged = this.#staged.get(slot(ns, key));
    if (staged) return staged.value === null ? undefined : copyBytes(staged.value);
    return this.#storage.get(ns, key);
  }

  keys(ns: ProtocolNamespace, prefix = ''): string[] {
    const keys = new Set(this.#storage.keys(ns, prefix));
    for (const write of this.#staged.values()) {
      if (write.ns !== ns || !write.key.startsWith(prefix)) continue;
      if (write.value === null) keys.delete(write.key);
      else keys.add(write.key);
    }
    return [...keys].sort();
  }

  put(ns: ProtocolNamespace, key: string, value: Uint8Array): void {
    this.#staged.set(slot(ns, key), { ns, key, value });
  }

  delete(ns: ProtocolNamespace, key: string): void {
    this.#staged.set(slot(ns, key), { ns, key, value: null });
  }

  /** Runs after a successful commit (used to emit events only for changes that were persisted). */
  afterCommit(fn: () => void): void {
    this.#afterCommit.push(fn);
  }

  /** Writes everything staged in one atomic commit; `inTransaction` runs inside that commit. */
  commit(inTransaction?: () => void): void {
    if (this.#staged.size > 0 || inTransaction) this.#storage.commit([...this.#staged.values()], inTransaction);
    for (const at of this.#staged.keys()) this.#decoded.delete(at);
    this.#staged.clear();
    // What was committed stays committed: a failing listener must not turn success into failure.
    for (const fn of this.#afterCommit.splice(0)) {
      try {
        fn();
      } catch (error) {
        this.#logger.error(`core event listener failed: ${describeError(error)}`);
      }
    }
  }

  /**
   * The first RoundsError one of our libsignal stores threw during this operation. libsignal turns a
   * store's exception into its own generic error, so the operation looks here for the real reason.
   */
  storeError: RoundsError | undefined;

  noteStoreError<E extends RoundsError>(error: E): E {
    this.storeError ??= error;
    return error;
  }
}

function copyBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes);
  return out;
}

/** Decoded forms of committed values, by slot; shared by all operations of one ProtocolContext. */
export type DecodedCache = Map<string, unknown>;

function slot(ns: ProtocolNamespace, key: string): string {
  return `${ns}\u0000${key}`;
}
