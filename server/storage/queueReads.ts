import type { DeviceAddress } from '../../shared/ids';
import type { StoredEnvelope } from './RelayStore';

/** One device's queue page asked for: the envelopes after `afterSeq`, in order. */
export interface QueueRead {
  readonly recipient: DeviceAddress;
  readonly afterSeq: number;
}

interface PendingRead extends QueueRead {
  readonly resolve: (page: StoredEnvelope[]) => void;
  readonly reject: (error: unknown) => void;
}

/** Queue reads answered by one statement, at most: a turn's reads beyond this take another. */
const READS_PER_STATEMENT = 500;
/** Envelopes one statement may bring at most (reads x page size): a statement's result is held whole in memory. */
const ROWS_PER_STATEMENT = 5_000;

/**
 * The queue reads of one turn of the event loop, answered together: per database and page size, one statement
 * for up to READS_PER_STATEMENT queues (`readMany` returns one page per read, in their order). Between random
 * pairs among thousands of devices nearly every delivery is its own read of one envelope; read alone, each
 * cost a statement of its own (on SQLite a read transaction too, on PostgreSQL a round trip). A read sees what
 * was committed up to the end of its turn.
 */
export class QueueReadsOfTurn<Db> {
  #reads = new Map<Db, Map<number, PendingRead[]>>();

  constructor(private readonly readMany: (db: Db, pageSize: number, reads: readonly QueueRead[]) => StoredEnvelope[][] | Promise<StoredEnvelope[][]>) {}

  /** Up to `limit` envelopes of the recipient's queue after `afterSeq`, read at the end of this turn. */
  read(db: Db, recipient: DeviceAddress, afterSeq: number, limit: number): Promise<StoredEnvelope[]> {
    const pageSize = Math.floor(limit);
    if (!(pageSize > 0)) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      if (this.#reads.size === 0) setImmediate(() => void this.flush());
      let byPageSize = this.#reads.get(db);
      if (!byPageSize) this.#reads.set(db, (byPageSize = new Map()));
      const reads = byPageSize.get(pageSize) ?? [];
      reads.push({ recipient, afterSeq, resolve, reject });
      byPageSize.set(pageSize, reads);
    });
  }

  /** Reads what has been asked for, now (at the end of the turn, and before the store closes); resolves once all are answered. */
  flush(): Promise<void> {
    const all = this.#reads;
    this.#reads = new Map();
    const answers: Promise<void>[] = [];
    for (const [db, byPageSize] of all) {
      for (const [pageSize, reads] of byPageSize) {
        const perStatement = Math.max(1, Math.min(READS_PER_STATEMENT, Math.floor(ROWS_PER_STATEMENT / pageSize)));
        for (let start = 0; start < reads.length; start += perStatement) answers.push(this.#answer(db, pageSize, reads.slice(start, start + perStatement)));
      }
    }
    return Promise.all(answers).then(() => undefined);
  }

  /**
   * One statement for the group; if it fails, each read is tried alone, so that one device's failing read (or a
   * moment's failure of the database) leaves the others' answered, as when every read was a statement of its own.
   */
  async #answer(db: Db, pageSize: number, group: readonly PendingRead[]): Promise<void> {
    let pages: StoredEnvelope[][];
    try {
      pages = await this.readMany(db, pageSize, group);
    } catch (error) {
      if (group.length > 1) await Promise.all(group.map((read) => this.#answer(db, pageSize, [read])));
      else for (const read of group) read.reject(error);
      return;
    }
    group.forEach((read, i) => read.resolve(pages[i] ?? []));
  }
}
