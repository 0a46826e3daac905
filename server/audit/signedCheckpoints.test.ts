import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { SIGNED_CHECKPOINTS_FILE, lastSignedCheckpoint, mergeSignedCheckpoints, parseSignedCheckpoints, rememberCheckpoint, signedCheckpoints, type SignedCheckpointEntry } from './signedCheckpoints';

const ORIGIN = 'rounds.relay/0123456789abcdef';
const entry = (size: number, origin = ORIGIN, fill = size % 256): SignedCheckpointEntry => ({
  origin, size, root: Buffer.alloc(32, fill).toString('base64'), note: `${origin}\n${size}\n${Buffer.alloc(32, fill).toString('base64')}\n\n\u2014 ${origin} sig${size}\n`, at: 1_700_000_000_000 + size,
});

describe('the relay\'s memory of the checkpoints it signed', () => {
  const dirs: string[] = [];
  const dataDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'rounds-checkpoints-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('remembers every checkpoint, per log, and knows the last one', () => {
    const dir = dataDir();
    expect(lastSignedCheckpoint(dir, ORIGIN)).toBeNull();
    for (const size of [3, 10, 7]) rememberCheckpoint(dir, entry(size));
    rememberCheckpoint(dir, entry(99, 'rounds.relay/other'));
    expect(signedCheckpoints(dir, ORIGIN).map((e) => e.size)).toEqual([3, 10, 7]);
    expect(signedCheckpoints(dir)).toHaveLength(4);
    expect(lastSignedCheckpoint(dir, ORIGIN)).toEqual(entry(10));
    expect(() => rememberCheckpoint(dir, { ...entry(11), root: 'not base64' })).toThrow();
  });

  it('ignores a last line cut short by a crash, and the next entry is not lost to it', () => {
    const dir = dataDir();
    rememberCheckpoint(dir, entry(5));
    rememberCheckpoint(dir, entry(6));
    const path = join(dir, SIGNED_CHECKPOINTS_FILE);
    appendFileSync(path, JSON.stringify(entry(7)).slice(0, 40));
    expect(signedCheckpoints(dir, ORIGIN).map((e) => e.size)).toEqual([5, 6]);
    rememberCheckpoint(dir, entry(8));
    expect(signedCheckpoints(dir, ORIGIN).map((e) => e.size)).toEqual([5, 6, 8]);
    expect(lastSignedCheckpoint(dir, ORIGIN)?.size).toBe(8);
    // Lines that are not entries (damage) are skipped; the rest is read.
    appendFileSync(path, '{"origin":1}\n\n');
    rememberCheckpoint(dir, entry(9));
    expect(signedCheckpoints(dir, ORIGIN).map((e) => e.size)).toEqual([5, 6, 8, 9]);
  });

  it('merges a backup\'s copy: the union stays, and merging again adds nothing', () => {
    const dir = dataDir();
    rememberCheckpoint(dir, entry(5));
    rememberCheckpoint(dir, entry(50));
    const backupCopy = Buffer.from([entry(5), entry(20)].map((e) => `${JSON.stringify(e)}\n`).join('') + '{"torn":');
    const fromBackup = parseSignedCheckpoints(backupCopy);
    expect(fromBackup.map((e) => e.size)).toEqual([5, 20]);
    expect(mergeSignedCheckpoints(dir, fromBackup)).toBe(1);
    expect(mergeSignedCheckpoints(dir, fromBackup)).toBe(0);
    expect(signedCheckpoints(dir, ORIGIN).map((e) => e.size)).toEqual([5, 50, 20]);
    expect(lastSignedCheckpoint(dir, ORIGIN)?.size).toBe(50);
  });

  it('keeps every entry of several processes appending at once', async () => {
    const dir = dataDir();
    const module = fileURLToPath(new URL('./signedCheckpoints.ts', import.meta.url));
    const writer = (id: number) => new Promise<number>((resolve, reject) => {
      const script = `import { rememberCheckpoint } from ${JSON.stringify(module)};
        for (let i = 0; i < 40; i++) { const size = ${id * 1000} + i; const root = Buffer.alloc(32, i).toString('base64');
          rememberCheckpoint(${JSON.stringify(dir)}, { origin: 'rounds.relay/w${id}', size, root, note: 'n' + size + 'x'.repeat(3000), at: Date.now() }); }`;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      child.once('exit', (code) => (code === 0 ? resolve(code) : reject(new Error(err))));
    });
    await Promise.all([1, 2, 3, 4].map(writer));
    const all = signedCheckpoints(dir);
    expect(all).toHaveLength(160);
    for (const id of [1, 2, 3, 4]) expect(all.filter((e) => e.origin === `rounds.relay/w${id}`).map((e) => e.size)).toEqual(Array.from({ length: 40 }, (_, i) => id * 1000 + i));
    expect(readFileSync(join(dir, SIGNED_CHECKPOINTS_FILE), 'utf8').split('\n').filter((l) => l !== '')).toHaveLength(160);
  }, 60_000);
});
