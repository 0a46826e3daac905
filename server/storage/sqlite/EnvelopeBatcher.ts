import type { AuditEvent } from '../../audit/AuditRecord';
import type { NewEnvelope } from '../RelayStore';

export interface BatchItem {
  readonly envelope: NewEnvelope;
  readonly auditOf: (envelope: NewEnvelope) => AuditEvent;
}

/**
 * Group commit: envelopes handed in during one turn of the event loop are written in one transaction
 * (one fsync for many senders), and every sender's promise resolves only after that commit.
 */
export class EnvelopeBatcher {
  readonly #write: (items: readonly BatchItem[]) => void;
  #pending: { items: readonly BatchItem[]; resolve: () => void; reject: (error: unknown) => void }[] = [];
  #scheduled: Promise<void> | null = null;

  constructor(write: (items: readonly BatchItem[]) => void) {
    this.#write = write;
  }

  add(items: readonly BatchItem[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ items, resolve, reject });
      this.#scheduled ??= new Promise<void>((done) => setImmediate(() => {
        this.#flush();
        done();
      }));
    });
  }

  /** Waits for anything queued to be written (used on shutdown). */
  async drain(): Promise<void> {
    while (this.#scheduled) await this.#scheduled;
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    this.#scheduled = null;
    try {
      this.#write(batch.flatMap((b) => b.items));
      for (const b of batch) b.resolve();
    } catch (error) {
      for (const b of batch) b.reject(error);
    }
  }
}
