/**
 * One worker thread of a parallel `rounds-audit verify`: checks the lines of events.jsonl in one byte range
 * (starting at a line, ending after one) on their own (shared/audit/eventLines.ts) and sends their facts
 * to the verifier a batch at a time, counting each message in a shared slot so that the verifier, which
 * waits synchronously, wakes for it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { workerData, type MessagePort } from 'node:worker_threads';
import { EventLineFacts, lines, type EventLinesContext } from '../../shared/audit/eventLines';
import { TileTree, tilePath } from '../../shared/audit/tiles';
import { nodeAuditCrypto } from './auditCrypto';
import { fileChunks } from './bundleFiles';

export interface EventLinesJob {
  readonly dir: string;
  readonly start: number;
  readonly end: number;
  readonly context: EventLinesContext;
  readonly port: MessagePort;
  readonly signal: SharedArrayBuffer;
  readonly slot: number;
}

const BATCH = 32_768;

function run(job: EventLinesJob): void {
  const signal = new Int32Array(job.signal);
  const send = (message: unknown, transfer: ArrayBuffer[] = []): void => {
    job.port.postMessage(message, transfer);
    Atomics.add(signal, job.slot, 1);
    Atomics.notify(signal, job.slot);
  };
  try {
    const tree = new TileTree(nodeAuditCrypto.sha256, job.context.treeSize, (ref) => {
      try {
        return readFileSync(join(job.dir, tilePath(ref)));
      } catch {
        return null;
      }
    });
    // The verifier checked the tiles; where they do not hold it ignores the leaves' facts, so a missing tile is no leaf.
    const leafAt = (index: number): Uint8Array => {
      try {
        return tree.leaf(index);
      } catch {
        return new Uint8Array(0);
      }
    };
    const facts = new EventLineFacts(nodeAuditCrypto, job.context, leafAt);
    const read = { truncated: false };
    const flush = (): void => {
      const batch = facts.take();
      send({ kind: 'batch', batch }, [batch.flags.buffer as ArrayBuffer, batch.seqs.buffer as ArrayBuffer]);
    };
    for (const bytes of lines(fileChunks(join(job.dir, 'events.jsonl'), job.start, job.end), read)) {
      facts.add(bytes);
      if (facts.pending >= BATCH) flush();
    }
    flush();
    send({ kind: 'done', truncated: read.truncated });
  } catch (error) {
    send({ kind: 'error', message: (error as Error).message });
  }
}

run(workerData as EventLinesJob);
