import { join } from 'node:path';
import { assertNever } from '../../../shared/exhaustive';
import { JsonLinesSink } from './jsonLinesSink';
import type { SiemConfig } from './SiemConfig';
import { SIEM_CURSOR_FILE, SiemCursorFile } from './SiemCursor';
import { SiemStream, realTimers, type AuditSource, type SiemSink, type StreamTimers } from './SiemStream';
import { SyslogTlsSink } from './syslogTlsSink';

/** The sink a config names, its files checked now (a ConfigurationError for anything wrong). */
export function openSiemSink(config: SiemConfig): SiemSink {
  switch (config.sink) {
    case 'syslog-tls':
      return SyslogTlsSink.open(config);
    case 'json-lines':
      return JsonLinesSink.open(config);
    default:
      return assertNever(config, 'SIEM sink');
  }
}

/**
 * What `rounds-server serve` calls once the store is open: the stream into `sink`, its cursor in the data
 * directory, started. Returns the stream (stop it before closing the store) and the first record it sends.
 */
export async function startSiemStream(sink: SiemSink, pacing: SiemConfig, dataDir: string, source: AuditSource, log: (line: string) => void, timers: StreamTimers = realTimers): Promise<{ stream: SiemStream; from: number }> {
  const stream = new SiemStream(source, sink, new SiemCursorFile(join(dataDir, SIEM_CURSOR_FILE)), pacing, timers, log);
  return { stream, from: await stream.start() };
}
