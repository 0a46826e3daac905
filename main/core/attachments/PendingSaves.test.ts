import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { useTempDirs } from '../../../test/fixtures/tempDirs';
import { ProfileDatabase } from '../storage/ProfileDatabase';
import type { Params, SqlRunner } from '../storage/ProfileDatabase';
import { LEFTOVER_KEPT_MS, PendingSaves, fileIdentity } from './PendingSaves';
import { writeMarkedCopy } from './savedCopy';

/*
 * The leftovers of saves cut short (issue 20) on drives that come and go: a save's `.part` file holds plaintext, so
 * its note is forgotten only when the file is known gone, never because its USB stick is not plugged in now, its
 * share not mounted, or another drive is mounted at that place. Real files and a real profile database.
 */
describe('leftovers of interrupted saves on drives that come and go', () => {
  const tempDir = useTempDirs();
  const open: ProfileDatabase[] = [];
  afterEach(() => {
    for (const db of open.splice(0)) db.close();
  });

  /** A profile whose save into a folder of the "stick" was interrupted: its part file is there, noted. */
  function interrupted() {
    const root = tempDir();
    const stick = join(root, 'stick');
    mkdirSync(stick);
    const part = join(stick, `.rounds-${randomUUID()}.part`);
    writeFileSync(part, 'plaintext of a patient scan');
    const db = new ProfileDatabase(join(tempDir(), 'profile.db'), randomBytes(32));
    open.push(db);
    const clock = { now: 1_000 };
    const logged: string[] = [];
    const saves = new PendingSaves(db, () => clock.now, { error: (m) => logged.push(m) });
    saves.created(part, fileIdentity(statSync(part, { bigint: true })), fileIdentity(statSync(stick, { bigint: true })));
    const noted = () => db.get<{ n: number }>('SELECT count(*) AS n FROM pending_saves')?.n;
    return { root, stick, part, saves, clock, logged, noted };
  }

  it('keeps the note while the stick is away, and removes the file once it is back', async () => {
    const { root, stick, part, saves, noted } = interrupted();
    renameSync(stick, join(root, 'elsewhere'));
    expect(await saves.removeLeftovers()).toBe(0);
    expect(noted()).toBe(1);
    renameSync(join(root, 'elsewhere'), stick);
    expect(await saves.removeLeftovers()).toBe(1);
    expect(existsSync(part)).toBe(false);
    expect(noted()).toBe(0);
  });

  it('keeps the note while another folder is at that place (another drive mounted there)', async () => {
    const { root, stick, part, saves, noted } = interrupted();
    renameSync(stick, join(root, 'unmounted'));
    mkdirSync(stick);
    expect(await saves.removeLeftovers()).toBe(0);
    expect(noted()).toBe(1);
    rmSync(stick, { recursive: true });
    renameSync(join(root, 'unmounted'), stick);
    expect(await saves.removeLeftovers()).toBe(1);
    expect(existsSync(part)).toBe(false);
  });

  it('forgets the note when the file is gone from the very folder it was made in', async () => {
    const { part, saves, noted } = interrupted();
    rmSync(part);
    expect(await saves.removeLeftovers()).toBe(0);
    expect(noted()).toBe(0);
  });

  it('leaves a file that is not the one it made, keeps checking, and gives up (logged) only after 90 days', async () => {
    const { stick, part, saves, clock, logged, noted } = interrupted();
    // Another file at that path (or the same one, its drive mounted again with other numbers): not provably ours.
    writeFileSync(join(stick, 'other'), 'someone else\'s file');
    renameSync(join(stick, 'other'), part);
    expect(await saves.removeLeftovers()).toBe(0);
    expect(noted()).toBe(1);
    expect(logged).toEqual([]);
    clock.now += LEFTOVER_KEPT_MS;
    expect(await saves.removeLeftovers()).toBe(0);
    expect(readFileSync(part, 'utf8')).toBe('someone else\'s file');
    expect(noted()).toBe(0);
    expect(logged).toEqual([expect.stringContaining('could not be checked for 90 days')]);
    expect(logged.join()).not.toContain(stick);
  });

  /** A profile's save journal on a real database. */
  function journal(db: SqlRunner = profileDb()) {
    return new PendingSaves(db, () => Date.now(), { error: () => undefined });
  }
  function profileDb() {
    const db = new ProfileDatabase(join(tempDir(), 'profile.db'), randomBytes(32));
    open.push(db);
    return db;
  }
  /** 64 segments of 64 KiB, as a save decrypts them. */
  const plaintext = (each: (k: number) => void = () => undefined) => (function* () {
    for (let k = 0; k < 64; k++) {
      each(k);
      yield Buffer.alloc(64 * 1024, k);
    }
  })();

  it('leaves alone the file of a save still going on (the profile locked and unlocked meanwhile)', async () => {
    const db = profileDb();
    const target = join(tempDir(), 'scan.bin');
    let cleanup: Promise<number> | undefined;
    // Halfway through the save, the profile is unlocked again and its new client removes leftovers.
    await writeMarkedCopy(target, plaintext((k) => void (k === 8 && (cleanup = journal(db).removeLeftovers()))), () => undefined, journal(db));
    expect(await cleanup).toBe(0);
    expect(readFileSync(target).length).toBe(64 * 64 * 1024);
  });

  it('reports a save that reached its name as saved, even when the profile closed before its note could go', async () => {
    const db = profileDb();
    const target = join(tempDir(), 'scan.bin');
    // Locked right after the copy was marked: the note cannot be removed now.
    await writeMarkedCopy(target, plaintext(), () => db.close(), journal(db));
    expect(readFileSync(target).length).toBe(64 * 64 * 1024);
  });

  it('writes the note to disk before the plaintext (synchronous=FULL for it), then goes back to NORMAL', async () => {
    const db = profileDb();
    const seen: number[] = [];
    // The real database, asked how it syncs as each note goes in.
    const watched: SqlRunner = {
      all: (sql, params) => db.all(sql, params),
      get: (sql, params) => db.get(sql, params),
      transaction: (fn) => db.transaction(fn),
      run: (sql: string, params?: Params) => {
        if (sql.startsWith('INSERT OR REPLACE INTO pending_saves')) seen.push(db.get<{ synchronous: number }>('PRAGMA synchronous')!.synchronous);
        return db.run(sql, params);
      },
    };
    await writeMarkedCopy(join(tempDir(), 'scan.bin'), plaintext(), () => undefined, journal(watched));
    expect(seen).toEqual([2]);
    expect(db.get<{ synchronous: number }>('PRAGMA synchronous')!.synchronous).toBe(1);
  });
});
