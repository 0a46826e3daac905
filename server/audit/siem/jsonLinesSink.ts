import { closeSync, existsSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigurationError } from '../../ConfigurationError';
import { syncDirectory } from '../../durableFiles';
import type { AuditRecord } from '../AuditRecord';
import { auditRecordJson } from './auditRecordJson';
import type { JsonLinesConfig } from './SiemConfig';
import type { SiemSink } from './SiemStream';

const FILE_MODE = 0o640;

/**
 * JSON lines appended to a file, one record per line (auditRecordJson.ts), for a SIEM agent (Splunk's
 * universal forwarder, Elastic's Filebeat, the Azure Monitor agent) or rsyslog's imfile to pick up. A batch
 * counts as accepted once it is fsynced. The file is opened for each batch, so logrotate may move it away
 * (the next batch creates it again). A line cut short by a crash or a full disk is ended before the next
 * batch, so it stands alone as one unreadable line and the resent records that follow are whole.
 */
export class JsonLinesSink implements SiemSink {
  readonly destination: string;

  private constructor(readonly file: string) {
    this.destination = `the file ${file}`;
  }

  /** Checks now that the file can be appended to (and creates it): a wrong path is a ConfigurationError at start. */
  static open(config: JsonLinesConfig): JsonLinesSink {
    try {
      closeSync(openSync(config.file, 'a', FILE_MODE));
    } catch (error) {
      throw new ConfigurationError(`cannot append to siem.file ${config.file}: ${(error as Error).message}`);
    }
    return new JsonLinesSink(config.file);
  }

  async deliver(records: readonly AuditRecord[]): Promise<void> {
    const created = !existsSync(this.file);
    const handle = await open(this.file, 'a+', FILE_MODE);
    try {
      const { size } = await handle.stat();
      const lastByte = Buffer.alloc(1);
      const unfinished = size > 0 && (await handle.read(lastByte, 0, 1, size - 1)).bytesRead === 1 && lastByte[0] !== 0x0a;
      const lines = records.map((record) => `${auditRecordJson(record)}\n`).join('');
      await handle.appendFile(unfinished ? `\n${lines}` : lines);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (created) syncDirectory(dirname(this.file));
  }

  close(): void {
    // Each batch is one append and one fsync: nothing to abandon.
  }
}
