/**
 * The worker thread of a big audit export (readoutThread.ts): reads events.jsonl's chunks as the export
 * writes them and sends events.csv's bytes back as they are made, then
 * report.html and people.json (shared/audit/exportReadout.ts). Each chunk is acknowledged once read, so
 * the export never gets far ahead of it.
 */
import { isAscii } from 'node:buffer';
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { ExportReadout, type ReadoutHeader } from '../../shared/audit/exportReadout';
import type { AuditReportVerification } from '../../shared/audit/report';

export type ReadoutRequest = { kind: 'lines'; chunk: Uint8Array } | { kind: 'finish'; verification: AuditReportVerification };

const port = parentPort;
if (!port) throw new Error('readoutWorker.ts runs as a worker thread');
// events.csv's digest is taken here, off the export's thread: the same bytes it writes.
const csv = createHash('sha256');
const readout = new ExportReadout(workerData as ReadoutHeader, (bytes) => {
  csv.update(bytes);
  port.postMessage({ kind: 'csv', bytes }, [bytes.buffer as ArrayBuffer]);
});
port.on('message', (request: ReadoutRequest) => {
  try {
    if (request.kind === 'lines') {
      readout.text(text(request.chunk));
      port.postMessage({ kind: 'read' });
    } else {
      const result = readout.finish(request.verification);
      port.postMessage({ kind: 'result', result: { ...result, digests: { csv: csv.digest() } } });
    }
  } catch (error) {
    port.postMessage({ kind: 'error', message: (error as Error).message });
  }
});

const decoder = new TextDecoder();

/**
 * A chunk's text. Nearly every record is ASCII, whose UTF-8 is its Latin-1: read as that, a chunk is copied
 * into a string (a fifth of the time UTF-8 decoding takes).
 */
function text(chunk: Uint8Array): string {
  return isAscii(chunk) ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).toString('latin1') : decoder.decode(chunk);
}
