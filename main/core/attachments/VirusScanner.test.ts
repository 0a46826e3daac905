import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../../../test/fixtures/tempDirs';
import { AttachmentTamperedError } from './attachmentCipher';
import { ClamdScanner } from './VirusScanner';

/**
 * The ClamAV scan as the policy runs it, against a stand-in `clamdscan` (a real executable that answers as
 * clamdscan does: 0 clean, 1 found, 2 error) that reads the file from standard input as clamdscan --stream does.
 */
/** The file as the scanner is given it: segment by segment. */
const segments = (text: string): Buffer[] => [Buffer.from(text.slice(0, 10)), Buffer.from(text.slice(10))];

describe('scanning received files with clamdscan', () => {
  const tempDir = useTempDirs();
  const standIn = (body: string) => {
    const path = join(tempDir(), 'clamdscan');
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o700);
    return path;
  };

  it('reports clean and infected files from what it reads on standard input, and a scan that cannot run', async () => {
    const scanner = new ClamdScanner(standIn('if grep -q EICAR-STANDARD; then exit 1; else exit 0; fi'));
    expect(await scanner.scan(segments('wound photo bytes'))).toBe('clean');
    expect(await scanner.scan(segments('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'))).toBe('infected');
    await expect(new ClamdScanner(standIn('cat >/dev/null; exit 2')).scan(segments('x'))).rejects.toMatchObject({ code: 'ATTACHMENT_SCAN_FAILED' });
    // A segment that does not authenticate halfway: no verdict on half a file, the reason as it is.
    function* tampered() {
      yield Buffer.from('first segment');
      throw new AttachmentTamperedError('segment 1 does not authenticate');
    }
    await expect(scanner.scan(tampered())).rejects.toMatchObject({ code: 'ATTACHMENT_TAMPERED' });
    await expect(new ClamdScanner(join(tempDir(), 'no-such-clamdscan')).scan(segments('x'))).rejects.toMatchObject({ code: 'ATTACHMENT_SCAN_FAILED' });
  });
});
