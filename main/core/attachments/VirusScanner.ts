import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RoundsError } from '../errors';

/** Scans a received file before it may be opened (policy `attachments.scanBeforeOpen`). */
export interface VirusScanner {
  /**
   * 'clean' or 'infected', reading the file as it is decrypted (segment by segment: never whole in memory); throws
   * ATTACHMENT_SCAN_FAILED when the scan could not run, and what the file's own reading threw (ATTACHMENT_TAMPERED).
   */
  scan(plaintext: Iterable<Uint8Array>): Promise<'clean' | 'infected'>;
}

const SCAN_TIMEOUT_MS = 120_000;

/**
 * ClamAV through its daemon: `clamdscan --no-summary -` with the file on standard input (`--stream`, so clamd
 * need not read a file of ours: the plaintext never touches the disk). Exit status 0 is clean, 1 is infected,
 * anything else is a failed scan. Nothing of the file or of clamd's answer is logged.
 */
export class ClamdScanner implements VirusScanner {
  constructor(private readonly command = 'clamdscan') {}

  async scan(plaintext: Iterable<Uint8Array>): Promise<'clean' | 'infected'> {
    const failed = (why: string, cause?: unknown) => new RoundsError('ATTACHMENT_SCAN_FAILED', `the virus scan could not run: ${why}`, cause === undefined ? undefined : { cause });
    let child;
    try {
      child = spawn(this.command, ['--no-summary', '--stream', '-'], { stdio: ['pipe', 'ignore', 'ignore'], timeout: SCAN_TIMEOUT_MS });
    } catch (error) {
      throw failed('clamdscan cannot be started', error);
    }
    const scanner = child;
    const exited = new Promise<number | null>((resolve, reject) => {
      scanner.once('error', (error) => reject(failed('clamdscan cannot be started', error)));
      scanner.once('close', resolve);
    });
    const fed = pipeline(Readable.from(plaintext, { objectMode: false }), scanner.stdin).catch((error: unknown) => {
      // The file could not be read to its end (a segment that does not authenticate): no verdict on part of it.
      if (error instanceof RoundsError) {
        scanner.kill();
        throw error;
      }
      // Otherwise clamdscan stopped reading (it found something early, or failed): its exit status says which.
    });
    const [status] = await Promise.all([exited, fed]);
    if (status === 0) return 'clean';
    if (status === 1) return 'infected';
    throw failed(`clamdscan ended with status ${String(status)}`);
  }
}
