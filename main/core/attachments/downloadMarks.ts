import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { RoundsError } from '../errors';

/*
 * The operating system's "downloaded from the internet" marks on a saved attachment (issue 20; Signal-Desktop
 * #7532 saved files without them), so the OS treats the file as it treats a browser download: Office opens it
 * in Protected View, SmartScreen and Gatekeeper check what runs.
 * - Windows: an NTFS alternate data stream `<file>:Zone.Identifier` saying zone 3 (Internet).
 * - macOS: the `com.apple.quarantine` extended attribute, as browsers write it (flags;time;agent;id).
 * - Linux has no such mark that desktops honour: nothing is written.
 */

/** The Zone.Identifier stream's content (zone 3: Internet). */
export function zoneIdentifier(): string {
  return '[ZoneTransfer]\r\nZoneId=3\r\nHostUrl=about:internet\r\n';
}

/** The quarantine attribute's value: flags 0081 (downloaded, not yet approved), the time in hex seconds, the agent, an event id. */
export function quarantineValue(nowMs: number, eventId: string = randomUUID().toUpperCase()): string {
  return `0081;${Math.floor(nowMs / 1000).toString(16)};Rounds;${eventId}`;
}

/** Runs a command to its end; its exit status. */
export type CommandRunner = (command: string, args: readonly string[]) => number;

const runCommand: CommandRunner = (command, args) => spawnSync(command, args, { stdio: 'ignore' }).status ?? -1;

/** Marks the file at `path` as downloaded from the internet, the way this OS knows; throws INTERNAL when it could not. */
export function markAsDownloaded(path: string, now: number, platform: NodeJS.Platform = process.platform, run: CommandRunner = runCommand): void {
  if (platform === 'win32') {
    writeFileSync(`${path}:Zone.Identifier`, zoneIdentifier(), 'utf8');
  } else if (platform === 'darwin') {
    if (run('/usr/bin/xattr', ['-w', 'com.apple.quarantine', quarantineValue(now), path]) !== 0) {
      throw new RoundsError('INTERNAL', 'the saved file could not be marked as downloaded (xattr failed)');
    }
  }
}
