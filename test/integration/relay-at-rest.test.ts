import Database from '@signalapp/sqlcipher';
import { spawnSync } from 'node:child_process';
import { zipSync } from 'fflate';
import { copyFileSync, existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { copyDatabase } from '../../server/storage/sqlite/DatabaseEncryption';
import { parseDatabaseKey } from '../../server/storage/sqlite/DatabaseKey';
import { Clinician, RelayProcess, addUser, adminCli, backupTo, filesUnder, restoreWith, testBackupKey } from '../fixtures/relayProcess';
import { useTempDirs } from '../fixtures/tempDirs';

/*
 * Issue 13, "At rest on the relay": the relay database is SQLCipher-encrypted with a key kept outside it,
 * and backups are age-encrypted to a recipient key or a passphrase.
 */
const PASSWORD = 'correct horse battery staple 7';
const SQLITE_HEADER = 'SQLite format 3';
const root = fileURLToPath(new URL('../..', import.meta.url));

/** The relay database's files (relay.db, -wal, -shm) that exist, and whether any holds one of `needles`. */
function databaseFiles(dataDir: string): string[] {
  return ['relay.db', 'relay.db-wal', 'relay.db-shm'].map((name) => join(dataDir, name)).filter((path) => existsSync(path));
}
function found(paths: readonly string[], needles: readonly string[]): string[] {
  return paths.flatMap((path) => {
    const bytes = readFileSync(path);
    return needles.filter((needle) => bytes.includes(Buffer.from(needle))).map((needle) => `${path}: ${needle}`);
  });
}

/** Every file of a directory with its bytes, to show that a refused command changed nothing. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(filesUnder(dir).filter((path) => !/relay\.(lock|pid)|audit-key\.lock/.test(path)).map((path) => [path, readFileSync(path).toString('base64')]));
}

const users = (dataDir: string, extra: readonly string[] = []) => adminCli(['user', 'list', '--data', dataDir, ...extra]);

/** A data directory as a relay before encryption at rest left it: relay.db in plaintext, no key. */
function plaintextDataDirectory(dir: string, username: string): string {
  addUser(dir, username, `Ward ${username}`);
  const key = parseDatabaseKey(readFileSync(join(dir, 'database.key'), 'utf8'), 'database.key');
  copyDatabase({ path: join(dir, 'relay.db'), key }, { path: join(dir, 'plain.db'), key: null });
  renameSync(join(dir, 'plain.db'), join(dir, 'relay.db'));
  rmSync(join(dir, 'database.key'));
  expect(readFileSync(join(dir, 'relay.db')).subarray(0, 15).toString('latin1')).toBe(SQLITE_HEADER);
  return dir;
}

describe('the relay database at rest', () => {
  const dir = useTempDirs();
  it('cannot be read without its key: relay.db, its -wal and -shm hold no SQLite header, no username, no TOTP secret', async () => {
    const data = dir();
    const relay = await RelayProcess.start(data);
    let secret: string;
    try {
      const code = addUser(data, 'zelda.quartermain', 'Dr. Zelda Quartermain');
      const zelda = await Clinician.enroll(relay.url, 'zelda.quartermain', code, PASSWORD);
      secret = zelda.totpSecret;
      expect(secret).toMatch(/^[A-Z2-7]{16,}/);
      // While the relay runs, the -wal and -shm hold the latest writes.
      expect(existsSync(join(data, 'relay.db-wal'))).toBe(true);
      expect(found(databaseFiles(data), [SQLITE_HEADER, 'zelda.quartermain', 'Quartermain', secret])).toEqual([]);
    } finally {
      await relay.stop();
    }
    expect(found(databaseFiles(data), [SQLITE_HEADER, 'zelda.quartermain', 'Quartermain', secret])).toEqual([]);
    // The key is a file of its own beside the data, the relay's user's only.
    expect(statSync(join(data, 'database.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(data, 'database.key'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    const raw = new Database(join(data, 'relay.db'));
    try {
      expect(() => raw.exec('SELECT count(*) FROM sqlite_master')).toThrow(/not a database/);
    } finally {
      raw.close();
    }
    expect(users(data).stdout).toMatch(/^zelda\.quartermain\t/m);
  }, 60_000);

  it('refuses a wrong or missing key with a message saying what to do, and changes nothing', () => {
    const data = dir();
    addUser(data, 'keep', 'Keep Ward');
    const before = snapshot(data);

    const wrongKey = join(dir(), 'wrong.key');
    writeFileSync(wrongKey, `${'ab'.repeat(32)}\n`, { mode: 0o600 });
    const wrong = users(data, ['--database-key-file', wrongKey]);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain(`${join(data, 'relay.db')} cannot be opened with the database key file ${wrongKey} (--database-key-file): that is not this database's key`);
    expect(wrong.stderr).not.toMatch(/^\s+at /m);
    expect(snapshot(data)).toEqual(before);

    writeFileSync(wrongKey, 'not a key\n');
    expect(users(data, ['--database-key-file', wrongKey]).stderr).toContain(`${wrongKey} (--database-key-file) does not hold a database key (64 hexadecimal digits`);

    // The key file is lost: every command, serve included, says so, and none makes a new database or key.
    const kept = join(dir(), 'database.key');
    renameSync(join(data, 'database.key'), kept);
    const withoutKey = snapshot(data);
    for (const command of [['user', 'list'], ['audit', 'check'], ['serve', '--port', '0']]) {
      const refused = adminCli([...command, '--data', data]);
      expect(refused.status, command.join(' ')).toBe(1);
      expect(refused.stderr).toContain(`${join(data, 'relay.db')} is encrypted, and its key, the database key file ${join(data, 'database.key')}, is missing: put back the copy of the key you keep`);
      expect(snapshot(data)).toEqual(withoutKey);
    }
    // Put back, it opens again.
    copyFileSync(kept, join(data, 'database.key'));
    expect(users(data).stdout).toMatch(/^keep\t/m);
  }, 60_000);

  it('keeps its key where it is told: a --database-key-file, or the systemd credential database-key', () => {
    const data = dir();
    const keys = dir();
    const keyFile = join(keys, 'relay-database.key');
    const added = adminCli(['user', 'add', '--data', data, '--username', 'elsewhere', '--display-name', 'Elsewhere Ward', '--role', 'clinician', '--database-key-file', keyFile]);
    expect(added.status, added.stderr).toBe(0);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(existsSync(join(data, 'database.key'))).toBe(false);
    expect(users(data).stderr).toMatch(/is encrypted, and its key, .* is missing/);
    expect(users(data, ['--database-key-file', keyFile]).stdout).toMatch(/^elsewhere\t/m);
    // Under a unit with LoadCredential=database-key:…, systemd puts the key in $CREDENTIALS_DIRECTORY.
    const credentials = dir();
    copyFileSync(keyFile, join(credentials, 'database-key'));
    expect(users(data, []).status).toBe(1);
    expect(adminCli(['user', 'list', '--data', data], { env: { CREDENTIALS_DIRECTORY: credentials } }).stdout).toMatch(/^elsewhere\t/m);
    expect(existsSync(join(data, 'database.key'))).toBe(false);
    // A key file every user can read is refused.
    writeFileSync(join(keys, 'open.key'), readFileSync(keyFile), { mode: 0o644 });
    expect(users(data, ['--database-key-file', join(keys, 'open.key')]).stderr).toContain('is readable by every user of this machine');
  }, 60_000);

  it('encrypts a plaintext database from an earlier version in place at the next open, its data and audit log intact', () => {
    const data = plaintextDataDirectory(dir(), 'legacy');
    const listed = users(data);
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^legacy\t/m);
    expect(found(databaseFiles(data), [SQLITE_HEADER, 'legacy'])).toEqual([]);
    expect(statSync(join(data, 'database.key')).mode & 0o777).toBe(0o600);
    expect(adminCli(['audit', 'check', '--data', data]).stdout).toMatch(/audit log intact: \d+ records/);
    expect(readdirSync(data).filter((name) => name.includes('encrypting'))).toEqual([]);
  }, 60_000);

  it('an encryption cut off half-way (the process killed) leaves the plaintext database usable, and the next open does it again', () => {
    const data = plaintextDataDirectory(dir(), 'crashy');
    const script = `
      const { encryptPlaintextDatabase } = await import(${JSON.stringify(join(root, 'server/storage/sqlite/DatabaseEncryption.ts'))});
      const { newDatabaseKey } = await import(${JSON.stringify(join(root, 'server/storage/sqlite/DatabaseKey.ts'))});
      const { storeDatabaseKey } = await import(${JSON.stringify(join(root, 'server/DatabaseKeyFile.ts'))});
      const key = storeDatabaseKey(${JSON.stringify(join(data, 'database.key'))}, newDatabaseKey());
      encryptPlaintextDatabase(${JSON.stringify(join(data, 'relay.db'))}, key, { afterCopy: () => process.kill(process.pid, 'SIGKILL') });`;
    const crashed = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], { cwd: root, encoding: 'utf8' });
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL');
    // The encrypted copy was written beside the database, which is still the plaintext one, whole.
    expect(statSync(join(data, 'relay.db-encrypting')).size).toBeGreaterThan(0);
    const plain = new Database(join(data, 'relay.db'));
    try {
      expect(plain.prepare('SELECT username FROM users').all()).toEqual([{ username: 'crashy' }]);
    } finally {
      plain.close();
    }
    // The next command finds the key stored, does the encryption again, and goes on.
    const listed = users(data);
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^crashy\t/m);
    expect(existsSync(join(data, 'relay.db-encrypting'))).toBe(false);
    expect(found(databaseFiles(data), [SQLITE_HEADER, 'crashy'])).toEqual([]);
  }, 60_000);
});

describe('encrypted relay backups', () => {
  const dir = useTempDirs();
  it('refuses to write a backup without a recipient or a passphrase, saying what to pass; a passphrase is never a flag value', () => {
    const data = dir();
    addUser(data, 'ward', 'Ward');
    const out = join(dir(), 'plain.age');
    const refused = adminCli(['backup', '--data', data, '--out', out]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('so it is always encrypted: pass --recipient age1… (the public key `rounds-server backup keygen` printed) or --passphrase-file FILE');
    expect(adminCli(['backup', '--data', data, '--out', out, '--passphrase', 'secret words here']).stderr).toMatch(/unknown option '--passphrase'/);
    expect(adminCli(['backup', '--data', data, '--out', out, '--recipient', 'age1notakey']).stderr).toContain('is not an age X25519 public key');
    const short = join(dir(), 'short.txt');
    writeFileSync(short, 'too short\n');
    expect(adminCli(['backup', '--data', data, '--out', out, '--passphrase-file', short]).stderr).toContain('shorter than 12 characters');
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it('round trip to X25519 recipients: an age file (0600) with nothing readable in it, restored on a new machine with either identity', () => {
    const data = dir();
    addUser(data, 'roundtrip.user', 'Dr. Round Trip');
    const second = join(dir(), 'second-identity.txt');
    const made = adminCli(['backup', 'keygen', '--out', second]);
    expect(made.status, made.stderr).toBe(0);
    const secondRecipient = made.stdout.trim();
    expect(secondRecipient).toMatch(/^age1[02-9ac-hj-np-z]{58}$/);
    expect(readFileSync(second, 'utf8')).toMatch(new RegExp(`^# created: .*\\n# public key: ${secondRecipient}\\nAGE-SECRET-KEY-1[0-9A-Z]{58}\\n$`));
    expect(statSync(second).mode & 0o777).toBe(0o600);
    expect(adminCli(['backup', 'keygen', '--out', second]).stderr).toContain('exists; an identity is never overwritten');

    const file = join(dir(), 'relay.age');
    const backup = adminCli(['backup', '--data', data, '--out', file, ...backupTo(), '--recipient', secondRecipient]);
    expect(backup.status, backup.stderr).toBe(0);
    expect(backup.stdout).toContain(`encrypted to ${testBackupKey().recipient}, ${secondRecipient}`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(file);
    expect(bytes.subarray(0, 22).toString('latin1')).toBe('age-encryption.org/v1\n');
    expect(found([file], [SQLITE_HEADER, 'roundtrip.user', 'Round Trip', 'PK\x03\x04', 'manifest.json', readFileSync(join(data, 'database.key'), 'utf8').trim()])).toEqual([]);

    // A new machine: the backup carries the database's key, stored there by the restore.
    const restored = dir();
    const restore = adminCli(['restore', '--data', restored, '--from', file, '--identity', second]);
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.stdout).toContain(`the database key was stored in the database key file ${join(restored, 'database.key')}`);
    expect(users(restored).stdout).toMatch(/^roundtrip\.user\t/m);
    expect(readFileSync(join(restored, 'database.key'), 'utf8')).toBe(readFileSync(join(data, 'database.key'), 'utf8'));
    expect(found(databaseFiles(restored), [SQLITE_HEADER, 'roundtrip.user'])).toEqual([]);

    // A machine that keeps its own key (here a --database-key-file): the restored database is re-encrypted under it.
    const other = dir();
    const otherKey = join(dir(), 'other.key');
    writeFileSync(otherKey, `${'5a'.repeat(32)}\n`, { mode: 0o600 });
    const rekeyed = adminCli(['restore', '--data', other, '--from', file, ...restoreWith(), '--database-key-file', otherKey]);
    expect(rekeyed.status, rekeyed.stderr).toBe(0);
    expect(rekeyed.stdout).toContain(`the restored database is encrypted with the database key file ${otherKey} (--database-key-file), as before`);
    expect(existsSync(join(other, 'database.key'))).toBe(false);
    expect(users(other, ['--database-key-file', otherKey]).stdout).toMatch(/^roundtrip\.user\t/m);
  }, 60_000);

  it('round trip to a passphrase, given in a file or on standard input', () => {
    const data = dir();
    addUser(data, 'passphrase.user', 'Passphrase Ward');
    const passphraseFile = join(dir(), 'passphrase.txt');
    writeFileSync(passphraseFile, 'staple battery horse correct ward\n', { mode: 0o600 });
    const file = join(dir(), 'relay.age');
    const backup = adminCli(['backup', '--data', data, '--out', file, '--passphrase-file', passphraseFile]);
    expect(backup.status, backup.stderr).toBe(0);
    expect(backup.stdout).toContain('encrypted to a passphrase');
    expect(readFileSync(file, 'latin1')).toMatch(/^age-encryption\.org\/v1\n-> scrypt /);
    const restored = dir();
    const restore = adminCli(['restore', '--data', restored, '--from', file, '--passphrase-file', '-'], { input: 'staple battery horse correct ward\n' });
    expect(restore.status, restore.stderr).toBe(0);
    expect(users(restored).stdout).toMatch(/^passphrase\.user\t/m);
  }, 60_000);

  it('restore says what a backup needs, and a wrong identity or passphrase changes nothing', () => {
    const data = dir();
    addUser(data, 'needs', 'Needs Ward');
    const toKey = join(dir(), 'key.age');
    expect(adminCli(['backup', '--data', data, '--out', toKey, ...backupTo()]).status).toBe(0);
    const passphraseFile = join(dir(), 'passphrase.txt');
    writeFileSync(passphraseFile, 'the right passphrase for this\n');
    const toPassphrase = join(dir(), 'passphrase.age');
    expect(adminCli(['backup', '--data', data, '--out', toPassphrase, '--passphrase-file', passphraseFile]).status).toBe(0);

    const target = dir();
    addUser(target, 'untouched', 'Untouched Ward');
    const before = snapshot(target);
    const restore = (from: string, extra: readonly string[], input?: string) => adminCli(['restore', '--data', target, '--from', from, '--force', ...extra], input === undefined ? {} : { input });

    const noIdentity = restore(toKey, []);
    expect(noIdentity.status).toBe(1);
    expect(noIdentity.stderr).toContain(`${toKey} is encrypted to the X25519 recipient ${testBackupKey().recipient}: pass --identity FILE`);
    expect(restore(toKey, ['--passphrase-file', passphraseFile]).stderr).toContain('pass --identity FILE');
    const noPassphrase = restore(toPassphrase, restoreWith());
    expect(noPassphrase.status).toBe(1);
    expect(noPassphrase.stderr).toContain(`${toPassphrase} is encrypted to a passphrase: pass --passphrase-file FILE`);

    const stranger = join(dir(), 'stranger.txt');
    expect(adminCli(['backup', 'keygen', '--out', stranger]).status).toBe(0);
    const wrongIdentity = restore(toKey, ['--identity', stranger]);
    expect(wrongIdentity.status).toBe(1);
    expect(wrongIdentity.stderr).toContain(`the identity given is not one ${toKey} is encrypted to (the X25519 recipient ${testBackupKey().recipient}); nothing was restored`);
    const wrongPassphrase = restore(toPassphrase, ['--passphrase-file', '-'], 'not the right passphrase\n');
    expect(wrongPassphrase.status).toBe(1);
    expect(wrongPassphrase.stderr).toContain(`the passphrase given does not open ${toPassphrase}; nothing was restored`);
    expect(restore(toKey, ['--identity', passphraseFile]).stderr).toContain('holds no age X25519 identity');
    expect(snapshot(target)).toEqual(before);
    expect(users(target).stdout).toMatch(/^untouched\t/m);
  }, 120_000);

  it('over a relay holding accounts, restores only a backup carrying its own database key unless told --other-relay: the recipient and the log id are public', () => {
    const ours = dir();
    const theirs = dir();
    for (const [d, name] of [[ours, 'ourward'], [theirs, 'intruder']] as const) {
      addUser(d, name, `Ward ${name}`);
      expect(adminCli(['audit', 'key', '--data', d]).status).toBe(0);
    }
    // Our own backup, for later.
    const genuine = join(dir(), 'genuine.age');
    expect(adminCli(['backup', '--data', ours, '--out', genuine, ...backupTo()]).status).toBe(0);
    // Someone with only the public recipient, and our log id (every export's checkpoint names it), backs up a
    // relay of their own under that id.
    writeFileSync(join(theirs, 'audit-log-id'), readFileSync(join(ours, 'audit-log-id')));
    const forged = join(dir(), 'forged.age');
    expect(adminCli(['backup', '--data', theirs, '--out', forged, ...backupTo()]).status).toBe(0);
    const before = snapshot(ours);
    const refused = adminCli(['restore', '--data', ours, '--from', forged, '--force', ...restoreWith()]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/this backup was not made by this relay \(it does not carry this relay's database key\).*--other-relay.*nothing was restored/);
    expect(snapshot(ours)).toEqual(before);
    expect(users(ours).stdout).toMatch(/^ourward\t/m);
    // Its own backup restores as ever; told so, the other replaces it.
    expect(adminCli(['restore', '--data', ours, '--from', genuine, '--force', ...restoreWith()]).status).toBe(0);
    const accepted = adminCli(['restore', '--data', ours, '--from', forged, '--force', '--other-relay', ...restoreWith()]);
    expect(accepted.status, accepted.stderr).toBe(0);
    expect(users(ours).stdout).toMatch(/^intruder\t/m);
    // Over a directory with nothing in it (a new machine), any backup restores: there is nothing to protect.
    const fresh = dir();
    expect(adminCli(['restore', '--data', fresh, '--from', forged, ...restoreWith()]).status).toBe(0);
  }, 120_000);

  it('refuses a tampered or truncated backup, and nothing in the data directory changes', () => {
    const data = dir();
    addUser(data, 'tamper', 'Tamper Ward');
    const file = join(dir(), 'good.age');
    expect(adminCli(['backup', '--data', data, '--out', file, ...backupTo()]).status).toBe(0);
    const bytes = readFileSync(file);
    /** The file with one bit of the byte at `at` flipped. */
    const flipped = (at: number) => {
      const copy = Buffer.from(bytes);
      copy.writeUInt8(copy.readUInt8(at) ^ 0x01, at);
      return copy;
    };
    const altered = {
      payload: flipped(bytes.length - 200),
      // The header's MAC (its first base64 character after "--- ").
      header: flipped(bytes.indexOf('\n--- ') + 5),
      truncated: bytes.subarray(0, bytes.length - 1000),
    };
    const target = dir();
    addUser(target, 'bystander', 'Bystander Ward');
    const before = snapshot(target);
    for (const [how, content] of Object.entries(altered)) {
      const bad = join(dir(), `${how}.age`);
      writeFileSync(bad, content);
      const refused = adminCli(['restore', '--data', target, '--from', bad, '--force', ...restoreWith()]);
      expect(refused.status, how).toBe(1);
      expect(refused.stderr, how).toMatch(new RegExp(`${bad} is damaged or was altered \\(.+\\); nothing was restored`));
      expect(snapshot(target), how).toEqual(before);
    }
    expect(users(target).stdout).toMatch(/^bystander\t/m);
  }, 60_000);

  it('still restores an unencrypted backup of an earlier version (rounds-relay-backup/1), and the restored database is encrypted', () => {
    const data = dir();
    addUser(data, 'oldtimer', 'Old Timer');
    expect(adminCli(['audit', 'key', '--data', data]).status).toBe(0);
    const check = /audit log intact: (\d+) records\nhead: ([0-9a-f]{64})/.exec(adminCli(['audit', 'check', '--data', data]).stdout);
    expect(check).not.toBeNull();
    // What `rounds-server backup` wrote before encryption at rest: a plain zip, its database in plaintext.
    const key = parseDatabaseKey(readFileSync(join(data, 'database.key'), 'utf8'), 'database.key');
    const plain = join(dir(), 'plain.db');
    copyDatabase({ path: join(data, 'relay.db'), key }, { path: plain, key: null });
    const manifest = { format: 'rounds-relay-backup/1', createdAt: Date.now(), auditRecords: Number(check?.[1]), auditHead: check?.[2] ?? null };
    const old = join(dir(), 'relay-old.zip');
    writeFileSync(old, zipSync({
      'relay.db': readFileSync(plain),
      'manifest.json': Buffer.from(JSON.stringify(manifest)),
      'audit-signing-key.pem': readFileSync(join(data, 'audit-signing-key.pem')),
      'audit-log-id': readFileSync(join(data, 'audit-log-id')),
    }), { mode: 0o600 });

    const restored = dir();
    const restore = adminCli(['restore', '--data', restored, '--from', old]);
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.stdout).toContain('this was an unencrypted backup of an earlier version (rounds-relay-backup/1); the restored database is encrypted now');
    expect(restore.stdout).toContain(`the database key was stored in the database key file ${join(restored, 'database.key')}`);
    expect(users(restored).stdout).toMatch(/^oldtimer\t/m);
    expect(found(databaseFiles(restored), [SQLITE_HEADER, 'oldtimer'])).toEqual([]);
    expect(readdirSync(restored).filter((name) => name.startsWith('.restore-'))).toEqual([]);
  }, 60_000);
});
