import { spawn } from 'node:child_process';
import { RoundsError } from '../errors';

/** Scans a received file before it may be opened (policy `attachments.scanBeforeOpen`). */
export interface VirusScanner {
  /** 'clean' or 'infected'; throws ATTACHMENT_SCAN_FAILED when the scan could not run. */
  scan(bytes: Uint8Array): Promise<'clean' | 'infected'>;
}

const SCAN_TIMEOUT_MS = 120_000;

/**
 * ClamAV through its daemon: `clamdscan --no-summary -` with the file on standard input (`--stream`, so clamd
 * need not read a file of ours: the plaintext never touches the disk). Exit status 0 is clean, 1 is infected,
 * anything else is a failed scan. Nothing of the file or of clamd's answer is logged.
 */
export class ClamdScanner implements VirusScanner {
  constructor(private readonly command = 'clamdscan') {}

  scan(bytes: Uint8Array): Promise<'clean' | 'infected'> {
    return new Promise((resolve, reject) => {
      const failed = (why: string, cause?: unknown) => reject(new RoundsError('ATTACHMENT_SCAN_FAILED', `the virus scan could not run: ${why}`, cause === undefined ? undefined : { cause }));
      let child;
      try {
        child = spawn(this.command, ['--no-summary', '--stream', '-'], { stdio: ['pipe', 'ignore', 'ignore'], timeout: SCAN_TIMEOUT_MS });
      } catch (error) {
        failed('clamdscan cannot be started', error);
        return;
      }
      child.once('error', (error) => failed('clamdscan cannot be started', error));
      child.once('close', (status) => {
        if (status === 0) resolve('clean');
        else if (status === 1) resolve('infected');
        else failed(`clamdscan ended with status ${String(status)}`);
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(bytes);
    });
  }
}
