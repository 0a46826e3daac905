import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ReceivedAttachments } from '../../../test/fixtures/receivedAttachments';
import { useTempDirs } from '../../../test/fixtures/tempDirs';
import { until } from '../../../test/fixtures/workstation';

/*
 * A save cut short by a crash (issue 20): a real workstation process is killed (SIGKILL) while its copy is still
 * the hidden `.rounds-<id>.part` file beside the destination; the next start of the same profile removes that
 * file, and nothing that Rounds did not make.
 */
describe('saves interrupted by a crash', () => {
  const tempDir = useTempDirs();
  const open: ReceivedAttachments[] = [];
  afterEach(() => {
    for (const r of open.splice(0)) r.close();
  });

  /** A profile and a folder after a process was killed mid-save into that folder; the profile's key. */
  function crashedSave(): { profileDir: string; folder: string; key: Buffer; part: string } {
    const profileDir = tempDir();
    const folder = tempDir();
    const key = randomBytes(32);
    const root = resolve(import.meta.dirname, '../../..');
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'test/fixtures/saveThenDie.ts'), profileDir, key.toString('hex'), join(folder, 'scan.bin')], { cwd: root, encoding: 'utf8' });
    expect(run.signal, run.stderr).toBe('SIGKILL');
    const left = readdirSync(folder);
    expect(left).toEqual([expect.stringMatching(/^\.rounds-[0-9a-f-]{36}\.part$/)]);
    return { profileDir, folder, key, part: left[0]! };
  }

  const reopen = (profileDir: string, key: Buffer) => {
    const r = new ReceivedAttachments(profileDir, { saveAllowed: true }, {}, key);
    open.push(r);
    return r;
  };
  const noted = (r: ReceivedAttachments) => r.db.get<{ n: number }>('SELECT count(*) AS n FROM pending_saves')?.n;

  it('removes the part file the crashed save left when the profile starts again, and leaves everything else', async () => {
    const { profileDir, folder, key, part } = crashedSave();
    // Files that are not this profile's unfinished save: the user's own, and another `.part` it never made.
    const stranger = `.rounds-${randomUUID()}.part`;
    writeFileSync(join(folder, stranger), 'not made by this profile');
    writeFileSync(join(folder, 'notes.txt'), 'the user\'s own file');
    const r = reopen(profileDir, key);
    expect(noted(r)).toBe(1);
    r.attachments.resume();
    await until(() => !readdirSync(folder).includes(part), 'the leftover removed at start');
    expect(readdirSync(folder).sort()).toEqual([stranger, 'notes.txt'].sort());
    expect(noted(r)).toBe(0);
  });

  it('never deletes a file put at that path since: the one there is not the file Rounds made', async () => {
    const { profileDir, folder, key, part } = crashedSave();
    // The user (or anything else) replaced it: another file under the same name.
    writeFileSync(join(folder, 'replacement'), 'someone else\'s file');
    renameSync(join(folder, 'replacement'), join(folder, part));
    const r = reopen(profileDir, key);
    expect(await r.attachments.removeInterruptedSaves()).toBe(0);
    expect(readFileSync(join(folder, part), 'utf8')).toBe('someone else\'s file');
    // Still noted (its drive may have been mounted again with other numbers), until it is 90 days old; never removed.
    expect(noted(r)).toBe(1);
    expect(await r.attachments.removeInterruptedSaves()).toBe(0);
    expect(readFileSync(join(folder, part), 'utf8')).toBe('someone else\'s file');
  });
});
