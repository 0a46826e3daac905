import { ProtocolAddress } from '@signalapp/libsignal-client';
import type { CoreEvent } from '../../../shared/events';
import type { DeviceAddress } from '../../../shared/ids';
import type { Clock } from '../Clock';
import { NoLocalIdentityError } from '../errors';
import { consoleLogger, type Logger } from '../Logger';
import { IdentityStoreAdapter, type LocalIdentity } from './IdentityStore';
import type { ProtocolStorage } from './ProtocolStorage';
import {
  KyberPreKeyStoreAdapter,
  PreKeyStoreAdapter,
  SenderKeyStoreAdapter,
  SessionStoreAdapter,
  SignedPreKeyStoreAdapter,
} from './signalStores';
import { StagedWrites, type DecodedCache } from './StagedWrites';

/** libsignal's stores for one operation, all writing into the same StagedWrites. */
export interface OperationStores {
  readonly staged: StagedWrites;
  readonly session: SessionStoreAdapter;
  readonly identity: IdentityStoreAdapter;
  readonly preKey: PreKeyStoreAdapter;
  readonly signedPreKey: SignedPreKeyStoreAdapter;
  readonly kyberPreKey: KyberPreKeyStoreAdapter;
  readonly senderKey: SenderKeyStoreAdapter;
}

/**
 * What every part of the protocol core shares: storage, this device's identity, the clock, the event sink,
 * and one queue that runs protocol operations one at a time (libsignal reads and writes a session across
 * awaits; two interleaved operations on it would lose a ratchet step).
 */
export class ProtocolContext {
  readonly storage: ProtocolStorage;
  readonly local: LocalIdentity;
  readonly clock: Clock;
  #localAddress: ProtocolAddress | undefined;
  readonly #emit: (event: CoreEvent) => void;
  readonly #decoded: DecodedCache = new Map();
  #tail: Promise<unknown> = Promise.resolve();

  readonly #logger: Logger;

  constructor(storage: ProtocolStorage, local: LocalIdentity, clock: Clock, emit: (event: CoreEvent) => void, logger: Logger = consoleLogger) {
    this.#logger = logger;
    this.storage = storage;
    this.local = local;
    this.clock = clock;
    this.#emit = emit;
  }

  /** This device's address; only a registered device has one (key generation does not need it). */
  get address(): DeviceAddress {
    if (!this.local.address) throw new NoLocalIdentityError('this device is not registered with a relay yet');
    return this.local.address;
  }

  get localAddress(): ProtocolAddress {
    this.#localAddress ??= toProtocolAddress(this.address);
    return this.#localAddress;
  }

  /**
   * Runs `operation` after every earlier one has finished, with fresh stores over a new StagedWrites, and
   * commits the writes only if it succeeds. `inTransaction` runs inside the same atomic commit.
   */
  run<T>(operation: (stores: OperationStores) => Promise<T>, inTransaction?: (result: T) => void): Promise<T> {
    const result = this.#tail.then(async () => {
      const stores = this.stores();
      const value = await operation(stores);
      stores.staged.commit(inTransaction ? () => inTransaction(value) : undefined);
      return value;
    });
    this.#tail = result.catch(() => undefined);
    return result;
  }

  /** Like run(), but commits what the operation staged even when it then throws. */
  runCommitAlways<T>(operation: (stores: OperationStores) => Promise<T>): Promise<T> {
    const result = this.#tail.then(async () => {
      const stores = this.stores();
      try {
        return await operation(stores);
      } finally {
        stores.staged.commit();
      }
    });
    this.#tail = result.catch(() => undefined);
    return result;
  }

  private stores(): OperationStores {
    const staged = this.staged();
    return {
      staged,
      session: new SessionStoreAdapter(staged),
      identity: new IdentityStoreAdapter(staged, this.local, this.clock, this.#emit),
      preKey: new PreKeyStoreAdapter(staged),
      signedPreKey: new SignedPreKeyStoreAdapter(staged),
      kyberPreKey: new KyberPreKeyStoreAdapter(staged),
      senderKey: new SenderKeyStoreAdapter(staged),
    };
  }

  /** A unit of work outside run() (reads for queries; writes only when no operation can interleave). */
  staged(): StagedWrites {
    return new StagedWrites(this.storage, this.#decoded, this.#logger);
  }

  emit(event: CoreEvent): void {
    this.#emit(event);
  }
}

export function toProtocolAddress(address: DeviceAddress): ProtocolAddress {
  return ProtocolAddress.new(address.userId, address.deviceId);
}
