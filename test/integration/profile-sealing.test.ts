import { spawn } from 'node:child_process';
import { chmodSync, cpSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PASSPHRASE_RULES } from '../../shared/passphrasePolicy';
import { WrappedKeySchema, protectKey, unwrapWithPassphrase, type WrappedKey } from '../../main/core/storage/DatabaseKey';
import { InProcessKeyProtector, type KeyProtector } from '../../main/core/storage/KeyProtector';
import { LocalProfiles } from '../../main/core/storage/LocalProfiles';
import { ConfPreferences } from '../../main/core/storage/Preferences';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';
import { FAST_KDF } from '../fixtures/workstation';

const PASSPHRASE = 'ward four night shift 2026';
const ALICE = { username: 'alice', displayName: 'Dr. Alice Moreau', relayUrl: 'https://relay.example' };

/** Another machine, or another OS account: its key store cannot unseal what this one sealed. */
const elsewhere: KeyProtector = {
  isAvailable: () => true,
  protect: () => {
    throw new Error('not used');
  },
  unprotect: () => {
    throw new Error('the key store refuses: sealed by another machine');
  },
};

/**
 * What an attacker holding a copy of the directory can test a passphrase against: every value in every
 * JSON file that has the shape of a passphrase-wrapped key.
 */
function wrappedKeysOnDisk(dir: string): WrappedKey[] {
  const found: WrappedKey[] = [];
  const visit = (value: unknown) => {
    if (value === null || typeof value !== 'object') return;
    const parsed = WrappedKeySchema.safeParse(value);
    if (parsed.success) found.push(parsed.data);
    for (const child of Object.values(value)) visit(child);
  };
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const file = join(path, name);
      if (lstatSync(file).isDirectory()) walk(file);
      else if (name.endsWith('.json')) visit(JSON.parse(readFileSync(file, 'utf8')));
    }
  };
  walk(dir);
  return found;
}

/** The mode of everything under `dir`; directories are named with a trailing slash. */
function modesUnder(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (path: string) => {
    const stat = lstatSync(path);
    out[`${path.slice(dir.length)}${stat.isDirectory() ? '/' : ''}`] = (stat.mode & 0o777).toString(8);
    if (stat.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
  return out;
}

/** The same paths, each as it must be: directories 0700, files 0600. */
const privateModes = (modes: Record<string, string>) => Object.fromEntries(Object.keys(modes).map((path) => [path, path.endsWith('/') ? '700' : '600']));

const registryOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'profiles.json'), 'utf8')) as { profiles: Record<string, Record<string, unknown>> };

describe('profile keys sealed by the operating system, the passphrase policy and file modes', () => {
  let dir: string;
  const dirs: string[] = [];
  beforeEach(() => {
    dir = tempDataDir();
    dirs.push(dir);
  });
  afterEach(() => {
    for (const d of dirs.splice(0)) removeDir(d);
  });

  it('a profile directory copied to another machine opens with no passphrase, right or wrong, and holds nothing to test a passphrase against', async () => {
    const machine = new InProcessKeyProtector();
    const here = new LocalProfiles(dir, { kdf: FAST_KDF, protector: machine });
    const profile = await here.create(ALICE, PASSPHRASE);
    profile.lock();

    const copy = tempDataDir();
    dirs.push(copy);
    cpSync(dir, copy, { recursive: true });
    // Offline: nothing in the copy has the shape of a passphrase-wrapped key, so no dictionary can run.
    expect(wrappedKeysOnDisk(copy)).toEqual([]);
    // Through the app on the other machine, with its own key store or none: neither passphrase opens it,
    // and the answer does not tell a right passphrase from a wrong one.
    for (const protector of [elsewhere, undefined]) {
      const there = new LocalProfiles(copy, { kdf: FAST_KDF, ...(protector ? { protector } : {}) });
      for (const passphrase of [PASSPHRASE, 'not the passphrase at all']) {
        await expect(there.unlock(profile.id, passphrase)).rejects.toMatchObject({ code: 'STORAGE_CORRUPT' });
      }
    }
    // On the machine that sealed it, the right passphrase opens it and a wrong one counts.
    await expect(here.unlock(profile.id, 'not the passphrase at all')).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE' });
    expect(here.failedUnlocks(profile.id)).toBe(1);
    (await here.unlock(profile.id, PASSPHRASE)).lock();
    expect(here.keyProtection(profile.id)).toBe('os');
  });

  it('a profile written by the previous version loses its clear wrapped key at its next unlock, and a kill -9 at any moment of that unlock leaves it openable', async () => {
    const machineKey = randomBytes(32);
    const machine = new InProcessKeyProtector(machineKey);
    // The previous version's entry: the wrapped key in clear, and the same sealed by the OS beside it.
    const plain = new LocalProfiles(dir, { kdf: FAST_KDF });
    const profile = await plain.create(ALICE, PASSPHRASE);
    profile.lock();
    const registry = registryOf(dir);
    const entry = registry.profiles[profile.id]!;
    entry.osProtected = protectKey(Buffer.from(JSON.stringify(entry.wrappedKey)), machine);
    const previousVersion = JSON.stringify(registry);
    writeFileSync(join(dir, 'profiles.json'), previousVersion);
    // That is what the attack used: the copy alone answers whether a guess is right.
    const [exposed] = wrappedKeysOnDisk(dir);
    expect(await unwrapWithPassphrase(exposed!, PASSPHRASE, profile.id)).toHaveLength(32);

    // Unlocking is cut off by kill -9 at random moments; whatever was written, the profile opens.
    const outcomes = new Set<string>();
    for (let attempt = 0; attempt < 6; attempt++) {
      writeFileSync(join(dir, 'profiles.json'), previousVersion);
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/unlockProcess.ts', dir, profile.id, PASSPHRASE, machineKey.toString('hex')], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
      // Listened for from the start: the child may finish the unlock (and exit) before it is killed.
      const exited = new Promise((resolve) => child.once('exit', resolve));
      let output = '';
      await Promise.race([exited, new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('ready')) resolve();
      }))]);
      await new Promise((resolve) => setTimeout(resolve, attempt * 12));
      child.kill('SIGKILL');
      await exited;
      outcomes.add(registryOf(dir).profiles[profile.id]!.wrappedKey === null ? 'migrated' : 'previous');
      const local = new LocalProfiles(dir, { kdf: FAST_KDF, protector: machine });
      (await local.unlock(profile.id, PASSPHRASE)).lock();
      // After any successful unlock only the sealed copy is left.
      expect(wrappedKeysOnDisk(dir)).toEqual([]);
      expect(local.keyProtection(profile.id)).toBe('os');
    }
    expect(outcomes.size).toBeGreaterThanOrEqual(1);
    // The change is in the profile's own audit log.
    const local = new LocalProfiles(dir, { kdf: FAST_KDF, protector: machine });
    const opened = await local.unlock(profile.id, PASSPHRASE);
    const sealed = opened.database.all<{ details: string }>("SELECT details FROM local_audit WHERE type = 'profile.keySealed'");
    expect(sealed.length).toBeGreaterThanOrEqual(1);
    expect(sealed.map((r) => JSON.parse(r.details) as unknown)).toContainEqual({ change: 'clearCopyRemoved' });
    opened.lock();
  }, 120_000);

  it('a profile made where there was no key store says so, and is sealed at the first unlock once there is one', async () => {
    const bare = new LocalProfiles(dir, { kdf: FAST_KDF });
    const profile = await bare.create(ALICE, PASSPHRASE);
    profile.lock();
    expect(bare.keyProtection(profile.id)).toBe('passphraseOnly');
    expect(wrappedKeysOnDisk(dir)).toHaveLength(1);
    const machine = new InProcessKeyProtector();
    const sealing = new LocalProfiles(dir, { kdf: FAST_KDF, protector: machine });
    const opened = await sealing.unlock(profile.id, PASSPHRASE);
    expect(opened.database.all<{ details: string }>("SELECT details FROM local_audit WHERE type = 'profile.keySealed'").map((r) => JSON.parse(r.details) as unknown)).toEqual([{ change: 'sealed' }]);
    opened.lock();
    expect(sealing.keyProtection(profile.id)).toBe('os');
    expect(wrappedKeysOnDisk(dir)).toEqual([]);
    (await sealing.unlock(profile.id, PASSPHRASE)).lock();
  });

  it('refuses a passphrase the policy forbids, naming each rule it breaks, before anything is written', async () => {
    const profiles = new LocalProfiles(dir, { kdf: FAST_KDF });
    const refused = async (passphrase: string, accountPassword?: string) => {
      const error = await profiles.create(ALICE, passphrase, accountPassword === undefined ? {} : { accountPassword }).then(() => null, (e: unknown) => e as { code: string; rules: string[]; issues: string[] });
      expect(error, passphrase).not.toBeNull();
      expect(error!.code).toBe('PASSPHRASE_POLICY');
      expect(error!.issues.length).toBe(error!.rules.length);
      return error!.rules;
    };
    expect(await refused('x')).toEqual(['tooShort']);
    expect(await refused('aaaaaaaaaaaaaaaa')).toEqual(['repeated']);
    expect(await refused('password1234')).toEqual(['common']);
    // Full-width letters and digits (an IME's full-width mode) are the same password.
    expect(await refused('Ｐａｓｓｗｏｒｄ１２３４')).toEqual(['common']);
    expect(await refused('Dr Alice Moreau!')).toEqual(['personal']);
    expect(await refused('correct horse battery staple 7', 'correct horse battery staple 7')).toEqual(['samePassword']);
    expect(await refused('x'.repeat(1025))).toEqual(['tooLong', 'repeated']);
    expect(await refused('monkeymonkey')).toEqual(['repeated']);
    // Patterns a cracker tries early: keyboard rows, sequences, names with digits, the product's name.
    for (const pattern of ['qwertyuiopas', 'abcdefghijkl', 'alicealice12', 'moreau123456', 'rounds123456']) expect(await refused(pattern)).toEqual(['guessable']);
    expect(profiles.list()).toEqual([]);
    expect(readdirSync(dir).filter((name) => name === 'profiles')).toEqual([]);
    expect(PASSPHRASE_RULES).toEqual(expect.arrayContaining(['samePassword', 'guessable']));
    (await profiles.create(ALICE, PASSPHRASE, { accountPassword: 'correct horse battery staple 7' })).lock();
  });

  it('changes a passphrase keeping the key sealed, counts wrong current ones without ever wiping an open profile, and refuses a weak new one', async () => {
    const machine = new InProcessKeyProtector();
    const profiles = new LocalProfiles(dir, { kdf: FAST_KDF, protector: machine, wipeAfterFailedUnlocks: 3 });
    const open = await profiles.create(ALICE, PASSPHRASE);
    for (let i = 0; i < 3; i++) {
      await expect(profiles.changePassphrase(open.id, `wrong guess ${i} here`, 'sunflower river ladder 88')).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE' });
    }
    // At the wipe limit, and still there, open and readable; the count stands for the next unlock, which
    // waits as after wrong ones at the lock screen.
    expect(profiles.failedUnlocks(open.id)).toBe(3);
    expect(profiles.list().map((p) => p.id)).toEqual([open.id]);
    expect(open.database.get<{ ok: number }>('SELECT 1 AS ok')).toEqual({ ok: 1 });
    await expect(profiles.changePassphrase(open.id, PASSPHRASE, 'sunflower river ladder 88')).rejects.toMatchObject({ code: 'UNLOCK_THROTTLED' });
    await expect(profiles.changePassphrase(open.id, PASSPHRASE, 'qwertyuiopas')).rejects.toMatchObject({ code: 'PASSPHRASE_POLICY', rules: ['guessable'] });
    open.lock();
  });

  it('after a change, the new passphrase opens the profile, the old one does not, and the key is still only kept sealed', async () => {
    const machine = new InProcessKeyProtector();
    const profiles = new LocalProfiles(dir, { kdf: FAST_KDF, protector: machine });
    const created = await profiles.create(ALICE, PASSPHRASE);
    created.lock();
    await profiles.changePassphrase(created.id, PASSPHRASE, 'sunflower river ladder 88');
    expect(wrappedKeysOnDisk(dir)).toEqual([]);
    expect(profiles.keyProtection(created.id)).toBe('os');
    await expect(profiles.unlock(created.id, PASSPHRASE)).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE' });
    const reopened = await profiles.unlock(created.id, 'sunflower river ladder 88');
    expect(profiles.failedUnlocks(created.id)).toBe(0);
    reopened.lock();
  });

  it('writes every file 0600 and every directory 0700, and tightens what an earlier version left readable', async () => {
    const profiles = new LocalProfiles(dir, { kdf: FAST_KDF });
    const profile = await profiles.create(ALICE, PASSPHRASE);
    new ConfPreferences(dir).update({ lockTimeoutMinutes: 5 });
    const open = modesUnder(dir);
    expect(Object.keys(open)).toEqual(expect.arrayContaining(['/profiles.json', '/preferences.json', `/profiles/${profile.id}/profile.db`, `/profiles/${profile.id}/profile.db-wal`]));
    profile.lock();
    expect(open).toEqual(privateModes(open));
    expect(modesUnder(dir)).toEqual(privateModes(modesUnder(dir)));
    // What an earlier version left behind (0644 files, 0755 directories) is tightened at the next start.
    for (const path of ['', '/profiles', `/profiles/${profile.id}`]) chmodSync(join(dir, path), 0o755);
    for (const path of ['/profiles.json', '/preferences.json', `/profiles/${profile.id}/profile.db`]) chmodSync(join(dir, path), 0o644);
    new LocalProfiles(dir, { kdf: FAST_KDF });
    expect(modesUnder(dir)).toEqual(privateModes(modesUnder(dir)));
  });
});
