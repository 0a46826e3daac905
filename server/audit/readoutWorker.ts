/**
 * The worker thread of a big audit export (readoutThread.ts): reads events.jsonl's chunks as the export
 * writes them and sends events.csv's bytes back as they are made, then
 * report.html and people.json (shared/audit/exportReadout.ts). Each chunk is acknowledged once read, so
 * the export never gets far ahead of it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ExportReadout, type ReadoutHeader } from '../../shared/audit/exportReadout';
import type { AuditReportVerification } from '../../shared/audit/report';

export type ReadoutRequest = { kind: 'lines'; chunk: Uint8Array } | { kind: 'finish'; verification: AuditReportVerification };

const port = parentPort;
if (!port) throw new Error('readoutWorker.ts runs as a worker thread');
const readout = new ExportReadout(workerData as ReadoutHeader, (bytes) => port.postMessage({ kind: 'csv', bytes }, [bytes.buffer as ArrayBuffer]));
port.on('message', (request: ReadoutRequest) => {
  try {
    if (request.kind === 'lines') {
      readout.lines(request.chunk);
      port.postMessage({ kind: 'read' });
    } else {
      port.postMessage({ kind: 'result', result: readout.finish(request.verification) });
    }
  } catch (error) {
    port.postMessage({ kind: 'error', message: (error as Error).message });
  }
});
