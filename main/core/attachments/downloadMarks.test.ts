import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../../../test/fixtures/tempDirs';
import { markAsDownloaded, quarantineValue } from './downloadMarks';

describe('the OS marks on a saved attachment', () => {
  const tempDir = useTempDirs();

  it('writes the Zone.Identifier stream on Windows (zone 3, Internet)', () => {
    const path = join(tempDir(), 'wound.jpg');
    markAsDownloaded(path, Date.UTC(2026, 11, 3), 'win32');
    // On NTFS this is the file's alternate stream; elsewhere the same name is a file beside it.
    expect(readFileSync(`${path}:Zone.Identifier`, 'utf8')).toBe('[ZoneTransfer]\r\nZoneId=3\r\nHostUrl=about:internet\r\n');
  });

  it('sets com.apple.quarantine on macOS, and says so when it cannot', () => {
    const calls: string[][] = [];
    markAsDownloaded('/Users/a/Downloads/x.pdf', 0x65000000 * 1000, 'darwin', (command, args) => {
      calls.push([command, ...args]);
      return 0;
    });
    expect(calls[0]?.slice(0, 3)).toEqual(['/usr/bin/xattr', '-w', 'com.apple.quarantine']);
    expect(calls[0]?.[3]).toMatch(/^0081;65000000;Rounds;[0-9A-F-]{36}$/);
    expect(calls[0]?.[4]).toBe('/Users/a/Downloads/x.pdf');
    expect(() => markAsDownloaded('/x', 0, 'darwin', () => 1)).toThrow(/could not be marked/);
    expect(quarantineValue(0, 'ID')).toBe('0081;0;Rounds;ID');
  });
});
