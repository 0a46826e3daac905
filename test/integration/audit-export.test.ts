import { spawnSync } from 'node:child_process';
import { Zip, ZipPassThrough, zipSync } from 'fflate';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_KEY_FILE } from '../../server/audit/auditKey';
import { readBundle } from '../../server/audit/bundleFiles';
import { verifyPath } from '../../server/audit/verifyCli';
import { adminCli, addUser, backupTo, exportAudit, restoreWith , roundsAudit } from '../fixtures/relayProcess';
import { useTempDirs } from '../fixtures/tempDirs';


describe('signed audit exports, verified offline', () => {
  let data: string;
  let bundle: string;
  const dir = useTempDirs();
  const exportTo = exportAudit;
  /** A copy of the bundle, changed by `tamper`; returns its verdict's failures. */
  const tampered = (tamper: (path: string) => void, options: { key?: string; previous?: string } = {}) => {
    const copy = join(dir(), 'bundle');
    cpSync(bundle, copy, { recursive: true });
    tamper(copy);
    const verdict = verifyPath(copy, options);
    expect(verdict.ok).toBe(false);
    return verdict.failures.join('\n');
  };
  const editLines = (path: string, edit: (lines: string[]) => string[]) => {
    const file = join(path, 'events.jsonl');
    writeFileSync(file, edit(readFileSync(file, 'utf8').trimEnd().split('\n')).map((l) => `${l}\n`).join(''));
  };

  beforeAll(() => {
    data = dir();
    for (const name of ['ana', 'ben', 'cam', 'dee']) addUser(data, name, `Clinician ${name}`);
    expect(adminCli(['user', 'deactivate', '--data', data, 'dee']).status).toBe(0);
    bundle = exportTo(data, join(dir(), 'bundle'));
  });

  it('verifies with rounds-audit, and with stock sha256sum and openssl', () => {
    const ok = roundsAudit(['verify', bundle]);
    expect(ok.out).toMatch(/^VERIFIED: \d+ records of rounds\.relay\/[0-9a-f]{16} /);
    expect(ok.status).toBe(0);
    const sums = spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: bundle, encoding: 'utf8' });
    expect(sums.status, sums.stderr).toBe(0);
    expect(sums.stdout).toContain('events.jsonl: OK');
    const openssl = spawnSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'signer.pub.pem', '-rawin', '-in', 'SHA256SUMS', '-sigfile', 'SHA256SUMS.sig'], { cwd: bundle, encoding: 'utf8' });
    expect(openssl.stdout + openssl.stderr).toContain('Signature Verified Successfully');
    expect(openssl.status).toBe(0);
    // The key the relay prints is the one that signed.
    const key = adminCli(['audit', 'key', '--data', data]);
    expect(key.stdout).toContain(readFileSync(join(bundle, 'signer.pub.pem'), 'utf8').trim());
    expect(roundsAudit(['verify', bundle, '--key', join(bundle, 'signer.pub.pem')]).status).toBe(0);
  });

  it('reads the same bundle as a .zip, and one user\'s export; the export itself is audited', () => {
    const zip = exportTo(data, join(dir(), 'audit.zip'));
    expect(roundsAudit(['verify', zip]).status).toBe(0);
    // A zip's records are checked in memory: --threads always says so rather than pretending.
    const always = roundsAudit(['verify', zip, '--threads', 'always']);
    expect(always.status).toBe(0);
    expect(always.out).toContain('The records were checked on this thread: the bundle is a .zip, or its events.jsonl is too short to share between threads.');
    const one = exportTo(data, join(dir(), 'ben'), ['--user', 'ben']);
    const result = roundsAudit(['verify', one]);
    expect(result.status, result.out).toBe(0);
    const lines = readFileSync(join(one, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(lines.length).toBeGreaterThanOrEqual(1);
    // One user's export names that user, not the relay's whole staff.
    expect((JSON.parse(readFileSync(join(one, 'people.json'), 'utf8')) as { people: { username: string }[] }).people.map((p) => p.username)).toEqual(['ben']);
    expect((JSON.parse(readFileSync(join(bundle, 'people.json'), 'utf8')) as { people: unknown[] }).people.length).toBe(4);
    // The earlier exports are in the log, and so in the next export.
    expect(readFileSync(join(exportTo(data, join(dir(), 'again')), 'events.jsonl'), 'utf8')).toContain('"type":"audit.exported"');
    const report = readFileSync(join(bundle, 'report.html'), 'utf8');
    expect(report).toContain('Events by type');
    expect(report).not.toMatch(/<script|https?:\/\//);
    // Flat columns with names (issue 15): no JSON in a cell, the people named, the ids kept at the end.
    const csv = readFileSync(join(bundle, 'events.csv'), 'utf8').replace(/^\uFEFF/, '').split('\r\n');
    expect(csv[0]).toBe('seq,time_utc,time_local,actor_username,actor_display_name,actor_role,actor_workstation,actor_address,actor_kind,subject,type,event,outcome,counterparty,flagged,description,actor_id,subject_id,counterparty_id');
    expect(csv.slice(1).join('\n')).not.toMatch(/[{}]/);
    expect(csv.find((row) => row.includes(',account.created,'))).toMatch(/^1,.*admin:[^,]+,.*Clinician ana/);
  });

  it('names each kind of tampering', () => {
    expect(tampered((p) => editLines(p, (l) => [l[0]!.replace('"account.created"', '"account.crEated"'), ...l.slice(1)]))).toMatch(/events\.jsonl does not match its digest[\s\S]*not included in the checkpoint/);
    expect(tampered((p) => editLines(p, (l) => [l[0]!, ...l.slice(2)]))).toMatch(/gap in the exported range: records 2 to 2 are missing/);
    expect(tampered((p) => editLines(p, (l) => [l[1]!, l[0]!, ...l.slice(2)]))).toMatch(/records out of order: record 1 follows record 2/);
    expect(tampered((p) => writeFileSync(join(p, 'events.jsonl'), readFileSync(join(p, 'events.jsonl')).subarray(0, 200)))).toMatch(/truncated/);
    expect(tampered((p) => editLines(p, (l) => [...l, l.at(-1)!.replace(/"seq":(\d+)/, (_m, n: string) => `"seq":${Number(n) + 1}`)]))).toMatch(/records have seq numbers outside the checkpoint's tree/);
    const other = exportTo(tempDataDirWithUsers(['zed']), join(dir(), 'other'));
    expect(tampered((p) => cpSync(join(other, 'checkpoint'), join(p, 'checkpoint')))).toMatch(/checkpoint is not signed by signer\.pub\.pem|not included in the checkpoint/);
    // Re-signed by someone else: SHA256SUMS.sig and signer.pub.pem replaced.
    const intruder = generateKeyPairSync('ed25519');
    const resign = (p: string) => {
      writeFileSync(join(p, 'SHA256SUMS.sig'), sign(null, readFileSync(join(p, 'SHA256SUMS')), intruder.privateKey));
      writeFileSync(join(p, 'signer.pub.pem'), intruder.publicKey.export({ format: 'pem', type: 'spki' }));
    };
    expect(tampered(resign, { key: join(bundle, 'signer.pub.pem') })).toMatch(/signed by a different key than the one given with --key/);
    expect(tampered(resign)).toMatch(/checkpoint is not signed by signer\.pub\.pem/);
  });

  it('proves a later export extends an earlier one, and catches a log rewritten in between', () => {
    const logA = tempDataDirWithUsers(['a1', 'a2', 'a3']);
    const first = exportTo(logA, join(dir(), 'first'));
    addUser(logA, 'a4', 'Clinician a4');
    const second = exportTo(logA, join(dir(), 'second'));
    const extends_ = roundsAudit(['verify', second, '--previous', first]);
    expect(extends_.out).toContain('which extends the previous bundle');
    expect(extends_.status).toBe(0);
    // An export made while the log was still empty is extended by every later one.
    const empty = dir();
    const none = exportTo(empty, join(dir(), 'none'));
    addUser(empty, 'e1', 'Clinician e1');
    const afterNone = roundsAudit(['verify', exportTo(empty, join(dir(), 'after-none')), '--previous', none]);
    expect(afterNone.status, afterNone.out).toBe(0);
    expect(afterNone.out).toContain('the previous bundle is of the log while it was still empty');

    // The same key and the same number of records before the first export, but other records: rewritten.
    const forged = tempDataDirWithUsers(['x1', 'x2', 'x3']);
    cpSync(join(logA, AUDIT_KEY_FILE), join(forged, AUDIT_KEY_FILE));
    exportTo(forged, join(dir(), 'forged-first'));
    addUser(forged, 'x4', 'Clinician x4');
    const rewritten = exportTo(forged, join(dir(), 'forged-second'));
    expect(roundsAudit(['verify', rewritten]).status).toBe(0);
    const caught = roundsAudit(['verify', rewritten, '--previous', first]);
    expect(caught.status).toBe(1);
    expect(caught.out).toMatch(/NOT VERIFIED[\s\S]*not an extension of the previous bundle's: records among the first \d+ were rewritten/);
  });

  it('rotates the audit key: the old one signs nothing more, its bundles still verify, and the log stays one log', () => {
    const site = dir();
    addUser(site, 'eve', 'Clinician eve');
    const before = exportTo(site, join(dir(), 'before'));
    expect(adminCli(['audit', 'rotate-key', '--data', dir()]).stderr).toMatch(/has no audit key yet/);
    const rotated = adminCli(['audit', 'rotate-key', '--data', site]);
    expect(rotated.status, rotated.stderr).toBe(0);
    const [, retired, current] = /retired audit key ([0-9a-f]{64})[\s\S]*fingerprint \(SHA-256\): ([0-9a-f]{64})/.exec(rotated.stdout) ?? [];
    expect(current).not.toBe(retired);
    // The retired private key is gone; its public half is kept, and is the one that signed the earlier bundle.
    const retiredPem = join(site, 'audit-keys', `${retired}.pub.pem`);
    expect(readFileSync(retiredPem, 'utf8')).toBe(readFileSync(join(before, 'signer.pub.pem'), 'utf8'));
    const currentPublic = createPublicKey(createPrivateKey(readFileSync(join(site, AUDIT_KEY_FILE), 'utf8'))).export({ format: 'pem', type: 'spki' }).toString();
    expect(currentPublic).not.toBe(readFileSync(retiredPem, 'utf8'));
    expect(currentPublic).toBe(adminCli(['audit', 'key', '--data', site, '--pem']).stdout);
    const after = exportTo(site, join(dir(), 'after'));
    const newKey = join(dir(), 'current.pub.pem');
    writeFileSync(newKey, adminCli(['audit', 'key', '--data', site, '--pem']).stdout);
    expect(roundsAudit(['verify', after, '--key', newKey, '--previous', before]).out).toMatch(/^VERIFIED: .*extends the previous bundle/);
    expect(roundsAudit(['verify', before, '--key', retiredPem]).status).toBe(0);
    expect(roundsAudit(['verify', before, '--key', newKey]).out).toContain('signed by a different key');
    const rotation = readFileSync(join(after, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; details: Record<string, string> }).find((e) => e.type === 'audit.key_rotated');
    // With the retired key's signed statement of the rotation (shared/audit/keyRotation.ts).
    expect(rotation?.details).toEqual({ retired, current, statement: expect.stringContaining(`old-key: ${retired} `), signature: expect.any(String) });
    // A backup carries the retired public keys along with the current key.
    const backup = join(dir(), 'backup.zip');
    expect(adminCli(['backup', '--data', site, '--out', backup, ...backupTo()]).status).toBe(0);
    const restored = dir();
    expect(adminCli(['restore', '--data', restored, '--from', backup, ...restoreWith()]).status).toBe(0);
    expect(readFileSync(join(restored, 'audit-keys', `${retired}.pub.pem`), 'utf8')).toBe(readFileSync(retiredPem, 'utf8'));

    // A backup from before the rotation, restored, would bring the retired key back: it is replaced at once.
    const old = dir();
    addUser(old, 'fay', 'Clinician fay');
    const oldKey = /fingerprint \(SHA-256\): ([0-9a-f]{64})/.exec(adminCli(['audit', 'key', '--data', old]).stdout)?.[1];
    const oldBackup = join(dir(), 'old.zip');
    expect(adminCli(['backup', '--data', old, '--out', oldBackup, ...backupTo()]).status).toBe(0);
    const rotatedOld = adminCli(['audit', 'rotate-key', '--data', old]);
    expect(rotatedOld.status).toBe(0);
    const liveBeforeRestore = /fingerprint \(SHA-256\): ([0-9a-f]{64})/.exec(rotatedOld.stdout)?.[1];
    const back = adminCli(['restore', '--data', old, '--from', oldBackup, '--force', ...restoreWith()]);
    expect(back.status, back.stderr).toBe(0);
    expect(back.stdout).toContain(`the backup's audit key ${oldKey} had been retired; it was replaced with a new one`);
    const now = /fingerprint \(SHA-256\): ([0-9a-f]{64})/.exec(adminCli(['audit', 'key', '--data', old]).stdout)?.[1];
    expect(now).not.toBe(oldKey);
    expect(back.stdout).toContain(`audit key fingerprint (SHA-256): ${now}`);
    // The key the restore took out of use keeps its public half, so what it signed can still be checked.
    expect(existsSync(join(old, 'audit-keys', `${liveBeforeRestore}.pub.pem`))).toBe(true);
    // The replacement is in the restored log, which still checks out.
    const logAfter = join(dir(), 'after-restore');
    exportTo(old, logAfter);
    const replaced = readFileSync(join(logAfter, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; details: Record<string, string> }).filter((e) => e.type === 'audit.key_rotated').at(-1);
    expect(replaced?.details).toEqual({ retired: oldKey, current: now, reason: 'restored a retired key', statement: expect.stringContaining(`new-key: ${now} `), signature: expect.any(String) });
    expect(roundsAudit(['verify', logAfter]).status).toBe(0);
    // On a new machine nothing says the key was retired: --new-key starts a new one.
    const elsewhere = dir();
    const fresh = adminCli(['restore', '--data', elsewhere, '--from', oldBackup, '--new-key', ...restoreWith()]);
    expect(fresh.status, fresh.stderr).toBe(0);
    expect(fresh.stdout).toContain(`the backup's audit key ${oldKey} was replaced with a new one`);
    const freshKey = /fingerprint \(SHA-256\): ([0-9a-f]{64})/.exec(fresh.stdout)?.[1];
    const freshLog = join(dir(), 'fresh-log');
    exportTo(elsewhere, freshLog);
    expect(readFileSync(join(freshLog, 'signer.pub.pem'), 'utf8')).toBe(adminCli(['audit', 'key', '--data', elsewhere, '--pem']).stdout);
    const freshRotation = readFileSync(join(freshLog, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; details: Record<string, string> }).filter((e) => e.type === 'audit.key_rotated').at(-1);
    expect(freshRotation?.details).toEqual({ retired: oldKey, current: freshKey, reason: 'restore --new-key', statement: expect.stringContaining(`new-key: ${freshKey} `), signature: expect.any(String) });

    // An interrupted rotation's new key that the log never announced is dropped, and the rotation goes on.
    writeFileSync(join(site, `${AUDIT_KEY_FILE}.new`), 'cut off while writing');
    const again = adminCli(['audit', 'rotate-key', '--data', site]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain('dropped a new audit key that an interrupted rotation never announced');
  });

  it('gives clear errors for bad input, never a stack trace', () => {
    const missing = roundsAudit(['verify', join(dir(), 'nothing-here')]);
    expect(missing.status).toBe(2);
    expect(missing.out).toMatch(/^NOT VERIFIED: .*does not exist/);
    const garbage = join(dir(), 'garbage.zip');
    writeFileSync(garbage, Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(4000, 7)]));
    const bad = roundsAudit(['verify', garbage]);
    expect(bad.status).toBe(2);
    expect(bad.out).toMatch(/not a readable zip file/);
    const notZip = join(dir(), 'notes.txt');
    writeFileSync(notZip, 'hello');
    expect(roundsAudit(['verify', notZip]).out).toMatch(/neither a bundle directory nor a zip file/);
    expect(tampered((p) => writeFileSync(join(p, 'events.jsonl'), `${'x'.repeat(200_000)}\n`))).toMatch(/longer than 65536 bytes/);
    expect(tampered((p) => writeFileSync(join(p, 'proof.json'), '{not json'))).toMatch(/proof\.json is not a valid proof file/);
    expect(tampered((p) => writeFileSync(join(p, 'checkpoint'), 'garbage'))).toMatch(/checkpoint: checkpoint has no signature block/);
    for (const out of [missing.out, bad.out]) expect(out).not.toMatch(/at .*\.ts:\d+/);
    // Nothing may be added: a "corrected" report or a note beside the signed files fails the bundle.
    expect(tampered((p) => {
      writeFileSync(join(p, 'report-corrected.html'), '<h1>records 2-3 were test data</h1>');
      mkdirSync(join(p, 'notes'));
      writeFileSync(join(p, 'notes', 'README-FIRST.txt'), 'read me first');
    })).toMatch(/notes\/README-FIRST\.txt is in the bundle but not listed in SHA256SUMS[\s\S]*report-corrected\.html is in the bundle but not listed/);
    // A zip with two entries of one name (unzip shows the first, a verifier would read the last), or one that
    // would inflate past the limit, is refused before it is inflated.
    const chunks: Uint8Array[] = [];
    const zip = new Zip((error, chunk) => void (error ? undefined : chunks.push(chunk)));
    for (const [name, bytes] of [['report.html', Buffer.from('<h1>FORGED</h1>')], ...[...readBundle(bundle)].map(([n, b]) => [n, b] as const)] as const) {
      const entry = new ZipPassThrough(name);
      zip.add(entry);
      entry.push(bytes, true);
    }
    zip.end();
    const duplicated = join(dir(), 'duplicated.zip');
    writeFileSync(duplicated, Buffer.concat(chunks));
    const dup = roundsAudit(['verify', duplicated]);
    expect(dup.status).toBe(2);
    expect(dup.out).toMatch(/^NOT VERIFIED: .*holds two entries named report\.html/);
    // A bomb as its directory describes it: a small entry that says it inflates to 2 GiB.
    const bombBytes = Buffer.from(zipSync({ 'events.jsonl': new Uint8Array(1024) }));
    const central = bombBytes.indexOf(Buffer.from('PK\x01\x02', 'binary'));
    bombBytes.writeUInt32LE(0x7fffffff, central + 24);
    bombBytes.writeUInt32LE(0x7fffffff, 22);
    const bomb = join(dir(), 'bomb.zip');
    writeFileSync(bomb, bombBytes);
    const bombed = roundsAudit(['verify', bomb]);
    expect(bombed.status).toBe(2);
    expect(bombed.out).toMatch(/would inflate to more than \d+ bytes/);
  });

  function tempDataDirWithUsers(names: readonly string[]): string {
    const d = dir();
    for (const name of names) addUser(d, name, `Clinician ${name}`);
    return d;
  }
});
