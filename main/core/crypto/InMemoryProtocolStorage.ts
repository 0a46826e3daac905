import type { ProtocolNamespace, ProtocolStorage, StorageWrite } from './ProtocolStorage';

/** ProtocolStorage kept in process memory; values are copied in and out so callers cannot alias them. */
export class InMemoryProtocolStorage implements ProtocolStorage {
  readonly #data = new Map<ProtocolNamespace, Map<string, Uint8Array<ArrayBuffer>>>();

  get(ns: ProtocolNamespace, key: string): Uint8Array<ArrayBuffer> | undefined {
    const value = this.#data.get(ns)?.get(key);
    return value === undefined ? undefined : value.slice();
  }

  keys(ns: ProtocolNamespace, prefix = ''): string[] {
    const table = this.#data.get(ns);
    if (!table) return [];
    return [...table.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  commit(writes: readonly StorageWrite[], inTransaction?: () => void): void {
    // Nothing here can fail half-way, so running the hook first gives all-or-nothing.
    inTransaction?.();
    for (const write of writes) {
      let table = this.#data.get(write.ns);
      if (!table) {
        table = new Map();
        this.#data.set(write.ns, table);
      }
      if (write.value === null) table.delete(write.key);
      else table.set(write.key, Uint8Array.prototype.slice.call(write.value) as Uint8Array<ArrayBuffer>);
    }
  }
}
