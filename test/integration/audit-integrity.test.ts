import Database from '@signalapp/sqlcipher';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildBundle, type AuditSigner, type ExportedRecord } from '../../shared/audit/bundle';
import { parseCheckpoint } from '../../shared/audit/checkpoint';
import { signKeyRotation, keyRotationsFile, KEY_ROTATIONS_FILE } from '../../shared/audit/keyRotation';
import { GENESIS_HASH, recordHash, type AuditRecord } from '../../server/audit/AuditRecord';
import { AUDIT_KEY_FILE } from '../../server/audit/auditKey';
import { nodeAuditCrypto } from '../../server/audit/auditCrypto';
import { readBundle, writeBundle } from '../../server/audit/bundleFiles';
import { verifyPath } from '../../server/audit/verifyCli';
import { RelayProcess, adminCli, addUser, backupTo, exportAudit, restoreWith , roundsAudit } from '../fixtures/relayProcess';
import { useTempDirs } from '../fixtures/tempDirs';
import { Workstation } from '../fixtures/workstation';

/*
 * Issue 13: an export vouches only for an intact log, and a verified bundle is the organisation's. The
 * relay refuses to sign a broken hash chain (or marks the bundle as broken everywhere, when told to);
 * `rounds-audit verify` recomputes the chain, checks the previous bundle as completely as this one, and
 * accepts a change of key only through a rotation signed by the key before.
 */

const RANGE = ['--from', '2020-01-01', '--to', '2100-01-01'];


/** What an attacker with the database file can do: drop the append-only triggers and run SQL on the log. */
function tamperWithLog(dataDir: string, sql: string): void {
  const db = new Database(join(dataDir, 'relay.db'));
  try {
    const keyFile = join(dataDir, 'database.key');
    if (existsSync(keyFile)) db.exec(`PRAGMA key = "x'${readFileSync(keyFile, 'utf8').trim()}'"`);
    // The relay may be writing (its minute's audit tree): wait for it rather than fail with SQLITE_BUSY.
    db.exec('PRAGMA busy_timeout = 10000');
    db.exec('DROP TRIGGER IF EXISTS audit_log_no_update');
    db.exec('DROP TRIGGER IF EXISTS audit_log_no_delete');
    db.exec(sql);
  } finally {
    db.close();
  }
}

const fingerprintOf = (dataDir: string) => /fingerprint \(SHA-256\): ([0-9a-f]{64})/.exec(adminCli(['audit', 'key', '--data', dataDir]).stdout)?.[1] ?? '';
const records = (bundle: string) => readFileSync(join(bundle, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ExportedRecord);

/** Someone else's Ed25519 key, as an attacker would sign with it. */
function intruderKey(): AuditSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(), sign: (data) => sign(null, data, privateKey) };
}

/**
 * The attacker's rebuild of a full-range bundle after editing its records: optionally the hash chain
 * recomputed, then the tree, checkpoint, proofs, SHA256SUMS, all signed by `signer`.
 */
function forge(bundle: string, out: string, options: { edit: (records: Record<string, unknown>[]) => void; rechain: boolean; signer: AuditSigner; earlierSizes: number[]; rotations?: Uint8Array }): string {
  const files = readBundle(bundle);
  const all = records(bundle) as unknown as Record<string, unknown>[];
  options.edit(all);
  if (options.rechain) {
    let prevHash = GENESIS_HASH;
    for (const r of all) {
      const content = { ...(r as unknown as AuditRecord), prevHash };
      r.prevHash = prevHash;
      r.hash = recordHash(content);
      prevHash = r.hash as string;
    }
  }
  const note = parseCheckpoint(new TextDecoder().decode(files.get('checkpoint')));
  if (!note.ok) throw new Error(note.reason);
  const proof = JSON.parse(new TextDecoder().decode(files.get('proof.json'))) as { range: { from: number; to: number; user: null } };
  const rebuilt = buildBundle(nodeAuditCrypto, { origin: note.checkpoint.origin, range: proof.range, all: all as unknown as ExportedRecord[], selected: all as unknown as ExportedRecord[], earlierSizes: options.earlierSizes, signer: options.signer, title: 'Rounds relay audit log', generatedAt: Date.now(), rotations: [] });
  if (options.rotations) rebuilt.set(KEY_ROTATIONS_FILE, options.rotations);
  writeBundle(out, rebuilt);
  return out;
}

describe('audit exports vouch only for an intact log signed by the organisation (issue 13)', () => {
  const dir = useTempDirs();
  const exportTo = exportAudit;
  const siteWith = (names: readonly string[]) => {
    const d = dir();
    for (const name of names) addUser(d, name, `Clinician ${name}`);
    return d;
  };
  it('refuses to export a log with a tampered record; --allow-broken marks every file an auditor reads, and verify names the record', () => {
    const site = siteWith(['ana', 'ben', 'cam']);
    tamperWithLog(site, `UPDATE audit_log SET details = '{"username":"mallory","role":"admin"}' WHERE seq = 2`);

    const refusedOut = join(dir(), 'refused');
    const refused = adminCli(['audit', 'export', '--data', site, ...RANGE, '--out', refusedOut]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('error: the relay\'s audit log is broken at record 2 (content does not match its hash), so it was not exported');
    expect(refused.stderr).toContain('--allow-broken');
    expect(existsSync(refusedOut)).toBe(false);

    const evidence = join(dir(), 'evidence');
    const forced = adminCli(['audit', 'export', '--data', site, ...RANGE, '--out', evidence, '--allow-broken']);
    expect(forced.status, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/WARNING: the audit log's hash chain is broken at record 2/);
    const warning = /WARNING: this log's hash chain is broken at record 2 \(content does not match its hash\)/;
    expect(readFileSync(join(evidence, 'report.html'), 'utf8')).toMatch(/<p class="alarm" role="alert">WARNING: this log&#39;s hash chain is broken at record 2/);
    expect(readFileSync(join(evidence, 'events.csv'), 'utf8').split('\r\n')[0]).toMatch(warning);
    expect(JSON.parse(readFileSync(join(evidence, 'proof.json'), 'utf8'))).toMatchObject({ chainBroken: { seq: 2, reason: 'content does not match its hash' } });
    expect(readFileSync(join(evidence, 'CHAIN-BROKEN.txt'), 'utf8')).toMatch(warning);
    expect(readFileSync(join(evidence, 'SHA256SUMS'), 'utf8')).toMatch(/^[0-9a-f]{64} {2}CHAIN-BROKEN\.txt$/m);
    // The bundle's signatures hold (it is what the relay held), and still it does not verify.
    const verdict = roundsAudit(['verify', evidence]);
    expect(verdict.status).toBe(1);
    expect(verdict.out).toMatch(/^NOT VERIFIED/);
    expect(verdict.out).toContain('the log\'s hash chain was broken at record 2 when this bundle was exported (content does not match its hash); it was exported with --allow-broken');
    expect(verdict.out).toContain('hash chain broken at record 2: its content does not match its hash (the record was altered)');
    // Removing the marker file does not make the bundle clean.
    rmSync(join(evidence, 'CHAIN-BROKEN.txt'));
    expect(verifyPath(evidence, {}).failures).toContain('CHAIN-BROKEN.txt is listed in SHA256SUMS but missing (removed after export)');
    // `audit check` names the same record.
    expect(adminCli(['audit', 'check', '--data', site]).stdout).toContain('BROKEN at record 2');
  });

  it('signs nothing over a damaged stored tree, a rolled-back database or a forged memory line; audit check says so', () => {
    const site = siteWith(['ana', 'ben', 'cam']);
    exportTo(site, join(dir(), 'first'));
    // A bit flipped in a stored leaf (ana's record): a one-user export of someone else would not read it.
    tamperWithLog(site, `UPDATE audit_tiles SET hashes = CAST((CASE WHEN substr(hashes, 1, 1) = x'00' THEN x'01' ELSE x'00' END) || substr(hashes, 2) AS BLOB) WHERE level = 0 AND idx = 0`);
    const refused = adminCli(['audit', 'export', '--data', site, ...RANGE, '--user', 'cam', '--out', join(dir(), 'cam')]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/first \d+ records are not the ones the relay signed|audit log is broken at record 1 \(altered after it was recorded in the log's tree\)|stored tree of its audit log is damaged/);
    const check = adminCli(['audit', 'check', '--data', site]);
    expect(check.status).toBe(2);
    expect(check.stdout).toMatch(/record 1 is not the record the relay's tree took in/);
    // Records that differ from the tree are not signed as they are by a plain rebuild: that needs --force,
    // and the audit log says so. Rebuilt, the tree holds again, and the log still extends what was signed.
    const unforced = adminCli(['audit', 'check', '--data', site, '--rebuild-tree']);
    expect(unforced.status).toBe(2);
    expect(unforced.stdout).toMatch(/not rebuilt: 1 records differ from the stored tree \(first: 1\)/);
    const rebuilt = adminCli(['audit', 'check', '--data', site, '--rebuild-tree', '--force']);
    expect(rebuilt.status, rebuilt.stdout).toBe(0);
    expect(rebuilt.stdout).toMatch(/the log extends the last checkpoint the relay signed/);
    expect(adminCli(['audit', 'export', '--data', site, ...RANGE, '--user', 'cam', '--out', join(dir(), 'cam2')]).status).toBe(0);

    // A leaf past the last signed checkpoint, which no export has read yet: still checked before signing.
    addUser(site, 'fay', 'Clinician fay');
    expect(adminCli(['audit', 'check', '--data', site]).status).toBe(0);
    const flipLast = `UPDATE audit_tiles SET hashes = CAST(substr(hashes, 1, length(hashes) - 32) || (CASE WHEN substr(hashes, length(hashes) - 31, 1) = x'00' THEN x'01' ELSE x'00' END) || substr(hashes, length(hashes) - 30) AS BLOB) WHERE level = 0 AND idx = 0`;
    tamperWithLog(site, flipLast);
    const unsigned = adminCli(['audit', 'export', '--data', site, ...RANGE, '--user', 'cam', '--out', join(dir(), 'cam3')]);
    expect(unsigned.status).toBe(1);
    expect(unsigned.stderr).toMatch(/broken at record \d+ \(altered after it was recorded in the log's tree\)/);
    expect(adminCli(['audit', 'check', '--data', site, '--rebuild-tree', '--force']).status).toBe(0);
    expect(readFileSync(join(exportTo(site, join(dir(), 'after-rebuilds')), 'events.jsonl'), 'utf8').match(/"type":"audit\.tree_rebuilt"/g)).toHaveLength(2);

    // The database replaced by an older copy (not a restore): the checkpoint memory shows it.
    const older = dir();
    cpSync(site, older, { recursive: true });
    addUser(site, 'dee', 'Clinician dee');
    exportTo(site, join(dir(), 'second'));
    for (const file of ['relay.db', 'relay.db-wal', 'relay.db-shm']) if (existsSync(join(older, file))) cpSync(join(older, file), join(site, file));
    for (const file of ['relay.db-wal', 'relay.db-shm']) if (!existsSync(join(older, file))) rmSync(join(site, file), { force: true });
    const rolledBack = adminCli(['audit', 'check', '--data', site]);
    expect(rolledBack.status).toBe(2);
    expect(rolledBack.stdout).toMatch(/ROLLED BACK: the relay signed a checkpoint of \d+ records/);
    expect(adminCli(['audit', 'export', '--data', site, ...RANGE, '--out', join(dir(), 'after-rollback')]).stderr).toMatch(/rolled back outside `rounds-server restore`/);

    // A line appended to the memory by hand is not believed.
    const fresh = siteWith(['eve']);
    exportTo(fresh, join(dir(), 'fresh'));
    const memory = join(fresh, 'audit-checkpoints.jsonl');
    const entry = JSON.parse(readFileSync(memory, 'utf8').trim().split('\n')[0]!) as Record<string, unknown>;
    writeFileSync(memory, `${readFileSync(memory, 'utf8')}${JSON.stringify({ ...entry, size: 1_000_000_000, note: 'not a signed note at all' })}\n`);
    expect(adminCli(['audit', 'export', '--data', fresh, ...RANGE, '--out', join(dir(), 'fresh2')]).status).toBe(0);
    expect(adminCli(['audit', 'check', '--data', fresh]).stdout).toMatch(/1 entries of audit-checkpoints\.jsonl are not signed by the relay's audit keys/);
  });

  it('refuses the compliance officer\'s export from the app when the log is broken (no override there)', async () => {
    const site = dir();
    const relay = await RelayProcess.start(site);
    const officer = new Workstation(dir());
    try {
      await officer.enroll(relay.url, 'olivia', addUser(site, 'olivia', 'Olivia Park', 'compliance'));
      expect((await officer.call('audit.exportRelay', { from: 0, to: Date.now() + 60_000 })).bytes).toBeGreaterThan(1000);
      tamperWithLog(site, `UPDATE audit_log SET actor = 'mallory' WHERE seq = 1`);
      const failure = await officer.fails('audit.exportRelay', { from: 0, to: Date.now() + 60_000 });
      expect(failure).toMatchObject({ code: 'AUDIT_LOG_BROKEN', message: expect.stringContaining('broken at record 1') });
    } finally {
      await officer.app.close();
      await relay.stop();
    }
    // Nothing was signed: the log records the first export only, and the refusal, flagged.
    const evidence = exportTo(site, join(dir(), 'evidence'), ['--allow-broken']);
    expect(records(evidence).filter((r) => r.type === 'audit.exported')).toHaveLength(1);
    expect(records(evidence).filter((r) => r.type === 'audit.export_refused')).toMatchObject([{ flagged: true, details: { chainBrokenAt: 1 } }]);
  }, 60_000);

  it('fails --previous for a bundle edited and re-signed by another key, and for a previous bundle that was tampered with', () => {
    const site = siteWith(['ana', 'ben']);
    const first = exportTo(site, join(dir(), 'first'));
    const firstSize = records(first).length;
    addUser(site, 'cam', 'Clinician cam');
    const second = exportTo(site, join(dir(), 'second'));
    expect(roundsAudit(['verify', second, '--previous', first]).status).toBe(0);

    // A record after the first export is edited; the tree, checkpoint, proofs and SHA256SUMS are rebuilt and re-signed.
    const mallory = intruderKey();
    const edit = (all: Record<string, unknown>[]) => {
      const target = all.find((r) => r.type === 'account.created' && (r.seq as number) > firstSize)!;
      target.actor = 'mallory';
    };
    // Without recomputing the hash chain, the edited record is named even without --previous.
    const crude = forge(second, join(dir(), 'crude'), { edit, rechain: false, signer: mallory, earlierSizes: [firstSize] });
    expect(verifyPath(crude, {}).failures.join('\n')).toMatch(/hash chain broken at record \d+: its content does not match its hash/);
    // With it recomputed, the bundle is consistent in itself: only the key gives it away.
    const forged = forge(second, join(dir(), 'forged'), { edit, rechain: true, signer: mallory, earlierSizes: [firstSize] });
    const alone = roundsAudit(['verify', forged]);
    expect(alone.status).toBe(0);
    expect(alone.out).not.toContain(fingerprintOf(site));
    const caught = roundsAudit(['verify', forged, '--previous', first]);
    expect(caught.status).toBe(1);
    expect(caught.out).toMatch(new RegExp(`the previous bundle is signed by audit key ${fingerprintOf(site)} and this one by [0-9a-f]{64}, and no rotation statement signed by the previous key leads to this one: this bundle may have been re-signed by someone else`));
    expect(caught.out).toContain('check this bundle with --key and the organisation\'s public key on record');
    // A rotation statement of Mallory's own making does not help her: it is not signed by the key it retires.
    const origin = parseCheckpoint(readFileSync(join(first, 'checkpoint'), 'utf8'));
    const claimed = signKeyRotation(nodeAuditCrypto, { origin: origin.ok ? origin.checkpoint.origin : '', at: Date.now(), retired: { publicKeyPem: readFileSync(join(first, 'signer.pub.pem'), 'utf8'), sign: mallory.sign }, current: mallory });
    const withClaim = forge(second, join(dir(), 'forged-claim'), { edit, rechain: true, signer: mallory, earlierSizes: [firstSize], rotations: keyRotationsFile([claimed]) });
    expect(roundsAudit(['verify', withClaim, '--previous', first]).out).toMatch(/key-rotations\.json: rotation 1 is not signed by the key it retires[\s\S]*may have been re-signed by someone else/);
    // With the organisation's key given, the forgery fails on the key alone.
    expect(verifyPath(forged, { key: join(first, 'signer.pub.pem') }).failures).toContain('the bundle is signed by a different key than the one given with --key');

    // The previous bundle is checked as completely as this one: a record edited in it is found.
    const tamperedFirst = join(dir(), 'first-tampered');
    cpSync(first, tamperedFirst, { recursive: true });
    writeFileSync(join(tamperedFirst, 'events.jsonl'), readFileSync(join(first, 'events.jsonl'), 'utf8').replace('"account.created"', '"account.crEated"'));
    const againstTampered = roundsAudit(['verify', second, '--previous', tamperedFirst]);
    expect(againstTampered.status).toBe(1);
    expect(againstTampered.out).toMatch(/the previous bundle: events\.jsonl does not match its digest in SHA256SUMS/);
    expect(againstTampered.out).toMatch(/the previous bundle: hash chain broken at record 1: its content does not match its hash/);
    // Its signature too: re-signed by someone else, it is not the bundle it claims to be.
    const resignedFirst = join(dir(), 'first-resigned');
    cpSync(first, resignedFirst, { recursive: true });
    writeFileSync(join(resignedFirst, 'SHA256SUMS.sig'), mallory.sign(readFileSync(join(first, 'SHA256SUMS'))));
    expect(roundsAudit(['verify', second, '--previous', resignedFirst]).out).toContain('the previous bundle: SHA256SUMS.sig is not a valid signature of SHA256SUMS by signer.pub.pem');
  });

  it('verifies across a legitimate rotate-key, and a restore\'s key replacement, by the statement the old key signed', () => {
    const site = siteWith(['dee']);
    const oldKey = fingerprintOf(site);
    const before = exportTo(site, join(dir(), 'before'));
    const rotated = adminCli(['audit', 'rotate-key', '--data', site]);
    expect(rotated.status, rotated.stderr).toBe(0);
    expect(rotated.stdout).toContain('the retired key signed the rotation');
    const newKey = fingerprintOf(site);
    addUser(site, 'eli', 'Clinician eli');
    const after = exportTo(site, join(dir(), 'after'));
    expect(JSON.parse(readFileSync(join(after, 'key-rotations.json'), 'utf8')).rotations).toHaveLength(1);
    expect(readFileSync(join(after, 'SHA256SUMS'), 'utf8')).toMatch(/ {2}key-rotations\.json$/m);
    // No --key: the chain of keys is proven by the old key's signature.
    const verified = roundsAudit(['verify', after, '--previous', before]);
    expect(verified.status, verified.out).toBe(0);
    expect(verified.out).toMatch(/^VERIFIED: .*which extends the previous bundle/);
    expect(verified.out).toMatch(new RegExp(`the audit key was rotated on \\S+ from ${oldKey} to ${newKey}, in a statement signed by the old key`));
    // The statement is in the log's own record of the rotation.
    const rotation = records(after).find((r) => r.type === 'audit.key_rotated');
    expect(rotation?.details).toMatchObject({ retired: oldKey, current: newKey, statement: expect.stringContaining(`old-key: ${oldKey} `), signature: expect.any(String) });
    // Removing the statements from the bundle breaks its signature, and without them the change is unproven.
    const stripped = join(dir(), 'stripped');
    cpSync(after, stripped, { recursive: true });
    rmSync(join(stripped, 'key-rotations.json'));
    expect(verifyPath(stripped, { previous: before }).failures.join('\n')).toMatch(/key-rotations\.json is listed in SHA256SUMS but missing[\s\S]*no rotation statement signed by the previous key leads to this one/);

    // A restore on a new machine with --new-key: the backup's key signs its replacement.
    const backup = join(dir(), 'site.age');
    const backedUp = adminCli(['backup', '--data', site, '--out', backup, ...backupTo()]);
    expect(backedUp.status, backedUp.stderr).toBe(0);
    const elsewhere = dir();
    const restored = adminCli(['restore', '--data', elsewhere, '--from', backup, '--new-key', ...restoreWith()]);
    expect(restored.status, restored.stderr).toBe(0);
    const restoredKey = fingerprintOf(elsewhere);
    const afterRestore = exportTo(elsewhere, join(dir(), 'after-restore'));
    const acrossBoth = roundsAudit(['verify', afterRestore, '--previous', before]);
    expect(acrossBoth.status, acrossBoth.out).toBe(0);
    expect(acrossBoth.out).toContain(`from ${oldKey} to ${newKey}`);
    expect(acrossBoth.out).toContain(`from ${newKey} to ${restoredKey}`);
  });

  it('needs --key across a rotation made before rotations were signed, and says so', () => {
    const site = siteWith(['fay']);
    const before = exportTo(site, join(dir(), 'before'));
    // What an older rotate-key left behind: a new key, and no statement by the old one.
    rmSync(join(site, AUDIT_KEY_FILE));
    const after = exportTo(site, join(dir(), 'after'));
    const unproven = roundsAudit(['verify', after, '--previous', before]);
    expect(unproven.status).toBe(1);
    expect(unproven.out).toContain('A rotation made before Rounds signed its rotations has no statement: check this bundle with --key and the organisation\'s public key on record.');
    const published = join(dir(), 'current.pub.pem');
    writeFileSync(published, adminCli(['audit', 'key', '--data', site, '--pem']).stdout);
    const pinned = roundsAudit(['verify', after, '--key', published, '--previous', before]);
    expect(pinned.status, pinned.out).toBe(0);
    expect(pinned.out).toContain('no signed rotation leads from it to this bundle\'s key: this bundle is accepted on the key given with --key');
  });

  it('prints the signer\'s fingerprint: without --key the result holds only if it is the organisation\'s', () => {
    const site = siteWith(['gus']);
    const bundle = exportTo(site, join(dir(), 'bundle'));
    const fingerprint = fingerprintOf(site);
    const bare = roundsAudit(['verify', bundle]);
    expect(bare.status).toBe(0);
    expect(bare.out).toContain(`signed by audit key ${fingerprint} (SHA-256). No --key was given: this result holds only if that is your organisation's audit key fingerprint`);
    const pinned = roundsAudit(['verify', bundle, '--key', join(bundle, 'signer.pub.pem')]);
    expect(pinned.out).toContain(`signed by audit key ${fingerprint} (SHA-256), which matches the key given with --key.`);
    expect(pinned.out).not.toContain('holds only if');
  });
});
