import { ProfileLockedError } from '../errors';
import type { ProfileDatabase } from './ProfileDatabase';
import { SqlCipherProtocolStorage } from './SqlCipherProtocolStorage';

/**
 * An open profile. lock() closes the database and overwrites the key; afterwards every data API refuses
 * with ProfileLockedError until the profile is unlocked again (which gives a new UnlockedProfile).
 */
export class UnlockedProfile {
  readonly #db: ProfileDatabase;
  readonly #key: Buffer;
  readonly #protocolStorage: SqlCipherProtocolStorage;
  #locked = false;

  constructor(readonly id: string, db: ProfileDatabase, key: Buffer) {
    this.#db = db;
    this.#key = key;
    this.#protocolStorage = new SqlCipherProtocolStorage(db);
  }

  get locked(): boolean {
    return this.#locked;
  }

  get database(): ProfileDatabase {
    if (this.#locked) throw new ProfileLockedError();
    return this.#db;
  }

  get protocolStorage(): SqlCipherProtocolStorage {
    if (this.#locked) throw new ProfileLockedError();
    return this.#protocolStorage;
  }

  lock(): void {
    if (this.#locked) return;
    this.#locked = true;
    try {
      this.#db.close();
    } finally {
      // Overwritten even if the close failed (a checkpoint on a full disk, say).
      this.#key.fill(0);
    }
  }
}
