import type { ProtocolNamespace, ProtocolStorage, StorageWrite } from '../crypto/ProtocolStorage';
import type { ProfileDatabase } from './ProfileDatabase';

/** The Signal-protocol core's storage in the encrypted profile database (table protocol_kv). */
export class SqlCipherProtocolStorage implements ProtocolStorage {
  constructor(private readonly db: ProfileDatabase) {}

  get(ns: ProtocolNamespace, key: string): Uint8Array<ArrayBuffer> | undefined {
    const row = this.db.get<{ value: Uint8Array }>('SELECT value FROM protocol_kv WHERE ns = $ns AND key = $key', { ns, key });
    if (!row) return undefined;
    const out = new Uint8Array(row.value.byteLength);
    out.set(row.value);
    return out;
  }

  keys(ns: ProtocolNamespace, prefix = ''): string[] {
    // Range scan on the primary key: [prefix, prefix + U+FFFF) holds exactly the keys starting with prefix.
    return this.db.all<{ key: string }>('SELECT key FROM protocol_kv WHERE ns = $ns AND key >= $lo AND key < $hi ORDER BY key', { ns, lo: prefix, hi: `${prefix}\uffff` }).map((r) => r.key);
  }

  commit(writes: readonly StorageWrite[], inTransaction?: () => void): void {
    this.db.transaction(() => {
      for (const write of writes) {
        if (write.value === null) this.db.run('DELETE FROM protocol_kv WHERE ns = $ns AND key = $key', { ns: write.ns, key: write.key });
        else this.db.run('INSERT INTO protocol_kv (ns, key, value) VALUES ($ns, $key, $value) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value', { ns: write.ns, key: write.key, value: Uint8Array.from(write.value) });
      }
      inTransaction?.();
    });
  }
}
