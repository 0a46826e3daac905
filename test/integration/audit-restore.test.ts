import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCheckpoint, toBase64 } from '../../shared/audit/checkpoint';
import { recordHash, type AuditRecord } from '../../server/audit/AuditRecord';
import { SIGNED_CHECKPOINTS_FILE, signedCheckpoints } from '../../server/audit/signedCheckpoints';
import { adminCli, addUser, backupTo, exportAudit, openRelayDatabase, restoreWith , roundsAudit } from '../fixtures/relayProcess';
import { useTempDirs } from '../fixtures/tempDirs';

/*
 * Issue 15, section 1: an IT admin follows docs/deployment.md (backup, more activity, an export, restore
 * --force, more activity, another export). The relay never signs two checkpoints that contradict each
 * other, and the compliance officer's verifier reports the restore and the records it lost.
 */


interface Record { seq: number; type: string; actor: string; details: { [k: string]: unknown }; prevHash: string; hash: string }
const records = (bundle: string): Record[] => readFileSync(join(bundle, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record);
const checkpointOf = (bundle: string) => {
  const note = parseCheckpoint(readFileSync(join(bundle, 'checkpoint'), 'utf8'));
  if (!note.ok) throw new Error(note.reason);
  return { ...note.checkpoint, root: toBase64(note.checkpoint.root), note: readFileSync(join(bundle, 'checkpoint'), 'utf8') };
};

/** No two checkpoints the relay remembers signing have the same origin and size but other roots. */
function expectNoContradiction(dataDir: string): void {
  const seen = new Map<string, string>();
  for (const c of signedCheckpoints(dataDir)) {
    const key = `${c.origin} ${c.size}`;
    expect(seen.get(key) ?? c.root, `two checkpoints of ${key}`).toBe(c.root);
    seen.set(key, c.root);
  }
}

/** A relay's data directory with accounts, and its audit key (made at the relay's first start). */
function relayData(dir: string, names: readonly string[]): string {
  for (const name of names) addUser(dir, name, `Clinician ${name}`);
  expect(adminCli(['audit', 'key', '--data', dir]).status).toBe(0);
  return dir;
}

/** A relay backed up to relay.age in `backups`, with an account added after the backup. */
function backedUpThenBusy(dataDir: string, backups: string): { data: string; backup: string } {
  const data = relayData(dataDir, ['ana']);
  const backup = join(backups, 'relay.age');
  expect(adminCli(['backup', '--data', data, '--out', backup, ...backupTo()]).status).toBe(0);
  addUser(data, 'ben', 'Clinician ben');
  return { data, backup };
}

/**
 * What an insider holding the data directory (and its database key) can do: rewrite record `seq` in the
 * database and hash the chain again after it, so that the database's own chain checks out.
 */
function rewriteAndRehash(dataDir: string, seq: number): void {
  interface Row { seq: number; at: number; type: string; actor: string; subject: string; details: string; flagged: number; prev_hash: string }
  const db = openRelayDatabase(dataDir);
  try {
    db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
    let prevHash: string | null = null;
    for (const row of db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as unknown as Row[]) {
      const actor = row.seq === seq ? 'admin:nobody' : row.actor;
      const record = { seq: row.seq, at: row.at, type: row.type as AuditRecord['type'], actor, subject: row.subject, details: JSON.parse(row.details) as AuditRecord['details'], flagged: row.flagged === 1, prevHash: prevHash ?? row.prev_hash };
      const hash = recordHash(record);
      db.prepare('UPDATE audit_log SET actor = $actor, prev_hash = $prevHash, hash = $hash WHERE seq = $seq').run({ actor, prevHash: record.prevHash, hash, seq: row.seq });
      prevHash = hash;
    }
    db.exec(`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;`);
  } finally {
    db.close();
  }
}

const restore = (data: string, backup: string) => adminCli(['restore', '--data', data, '--from', backup, '--force', ...restoreWith()]);

describe('a restore, as the audit bundles show it', () => {
  const dir = useTempDirs();

  it('starts a new log whose first record names the restore and the lost records; the verifier reports them, not a rewrite', () => {
    const data = relayData(dir(), ['ana', 'ben']);
    const backup = join(dir(), 'relay.age');
    const backedUp = adminCli(['backup', '--data', data, '--out', backup, ...backupTo()]);
    expect(backedUp.status, backedUp.stderr).toBe(0);
    const backupRecords = Number(/audit log: (\d+) records/.exec(backedUp.stdout)?.[1]);
    // After the backup: one more account (the issue's "one message"), and an export that signs it.
    addUser(data, 'cam', 'Clinician cam');
    const before = exportAudit(data, join(dir(), 'before'));
    const old = checkpointOf(before);
    expect(old.size).toBeGreaterThan(backupRecords);

    const restored = restore(data, backup);
    expect(restored.status, restored.stderr).toBe(0);
    const origin = /goes on as a new log, (\S+), from record (\d+)/.exec(restored.stdout);
    expect(origin?.[1]).toMatch(new RegExp(`^${old.origin.replace(/[./]/g, '\\$&')}-r[0-9a-f]{8}$`));
    expect(Number(origin?.[2])).toBe(backupRecords + 1);
    expect(restored.stdout).toContain(`records ${backupRecords + 1}..${old.size} of ${old.origin}, which the relay had signed in exports, were lost`);

    // Two more events on the restored relay, and another export.
    for (const name of ['dee', 'eve']) addUser(data, name, `Clinician ${name}`);
    const after = exportAudit(data, join(dir(), 'after'));
    const now = checkpointOf(after);
    expect(now.origin).toBe(origin?.[1]);
    expectNoContradiction(data);

    // The new log's first record: the restore, the backup, the previous log and its last signed checkpoint.
    const [first] = records(after);
    expect(first).toMatchObject({
      seq: backupRecords + 1, type: 'audit.log_restored', flagged: true,
      details: {
        log: now.origin, backupFile: 'relay.age', backupRecords, previousLog: old.origin, previousFirstSeq: 1,
        previousCheckpointSize: old.size, previousCheckpointRoot: old.root, previousCheckpoint: old.note,
        lostFrom: backupRecords + 1, lostTo: old.size, replacedLog: null,
      },
    });
    expect(first?.actor).toMatch(/^admin:/);
    expect(first?.prevHash).toBe(first?.details.backupHead);
    // The backup is the previous log up to its last record.
    expect(records(before).find((r) => r.seq === backupRecords)?.hash).toBe(first?.details.backupHead);

    const verified = roundsAudit(['verify', after, '--previous', before]);
    const lost = backupRecords + 1 === old.size ? `record ${old.size} of the previous log was lost` : `records ${backupRecords + 1}..${old.size} of the previous log were lost`;
    expect(verified.out).toContain(`restored from a backup: ${lost}`);
    expect(verified.out).not.toMatch(/rewritten/);
    expect(verified.status, verified.out).toBe(0);

    // `audit check` says which log the relay writes to now, and that it was restored.
    const check = adminCli(['audit', 'check', '--data', data]);
    expect(check.stdout).toContain(`current log: ${now.origin}, from record ${backupRecords + 1}`);
    expect(check.stdout).toMatch(/it was restored: record \d+ \(.*, by admin:\S+\) restored relay\.age/);
    expect(check.stdout).toContain(`last signed checkpoint of this log: ${now.size} records, root ${now.root}`);
    expect(check.stdout).not.toContain('WARNING');
    // A log id file put back from elsewhere would sign the new log under another name: audit check says so.
    writeFileSync(join(data, 'audit-log-id'), `${old.origin.slice('rounds.relay/'.length)}\n`);
    expect(adminCli(['audit', 'check', '--data', data]).stdout).toContain(`WARNING: the data directory's log id names ${old.origin}, but the database's current log is ${now.origin}`);
  }, 120_000);

  it('keeps the checkpoints it signed through a torn write and through a second restore of the same backup', () => {
    const { data, backup } = backedUpThenBusy(dir(), dir());
    const first = checkpointOf(exportAudit(data, join(dir(), 'first')));
    // A crash in the middle of remembering a checkpoint leaves a torn last line: it is ignored, and nothing before it is lost.
    appendFileSync(join(data, SIGNED_CHECKPOINTS_FILE), '{"origin":"rounds.relay/');
    expect(restore(data, backup).status).toBe(0);
    addUser(data, 'cam', 'Clinician cam');
    const second = exportAudit(data, join(dir(), 'second'));
    // The same backup again: yet another log, since the one the first restore started went on differently.
    const again = restore(data, backup);
    expect(again.status, again.stderr).toBe(0);
    addUser(data, 'dee', 'Clinician dee');
    const third = exportAudit(data, join(dir(), 'third'));
    const origins = [first, checkpointOf(second), checkpointOf(third)].map((c) => c.origin);
    expect(new Set(origins).size).toBe(3);
    expect(signedCheckpoints(data).map((c) => c.origin)).toEqual(expect.arrayContaining(origins));
    expectNoContradiction(data);
    const [start] = records(third);
    expect(start?.details).toMatchObject({ previousLog: first.origin, previousCheckpointSize: first.size, replacedLog: checkpointOf(second).origin });
    // The officer who kept the second bundle learns that its log was abandoned by the second restore.
    const verified = roundsAudit(['verify', third, '--previous', second]);
    expect(verified.out).toMatch(/restored from a backup: (records \d+\.\.\d+ of the previous log were|record \d+ of the previous log was) lost/);
    expect(verified.status, verified.out).toBe(0);
  }, 120_000);

  it('a restore cut off half-way and run again starts one new log, the one it had begun', () => {
    const { data, backup } = backedUpThenBusy(dir(), dir());
    exportAudit(data, join(dir(), 'before'));
    // The log id cannot be put in place (a directory is in its way): the restore stops after the database was replaced.
    rmSync(join(data, 'audit-log-id'));
    mkdirSync(join(data, 'audit-log-id', 'in-the-way'), { recursive: true });
    const cutOff = restore(data, backup);
    expect(cutOff.status).toBe(1);
    expect(existsSync(join(data, 'restore-in-progress'))).toBe(true);
    const begun = (JSON.parse(readFileSync(join(data, 'restore-in-progress'), 'utf8')) as { logId: string }).logId;
    expect(adminCli(['user', 'list', '--data', data]).stderr).toMatch(/a restore into .* was interrupted/);
    rmSync(join(data, 'audit-log-id'), { recursive: true });
    const redone = adminCli(['restore', '--data', data, '--from', backup, ...restoreWith()]);
    expect(redone.status, redone.stderr).toBe(0);
    expect(redone.stdout).toContain(`goes on as a new log, rounds.relay/${begun},`);
    expect(readFileSync(join(data, 'audit-log-id'), 'utf8').trim()).toBe(begun);
    const after = exportAudit(data, join(dir(), 'after'));
    expect(records(after).filter((r) => r.type === 'audit.log_restored')).toHaveLength(1);
    expect(adminCli(['audit', 'check', '--data', data]).stdout).toMatch(/audit log intact/);
  }, 120_000);

  it('refuses a backup whose signed records were rewritten; a restore record without the memory still fails the verifier', () => {
    const data = relayData(dir(), ['ana', 'ben', 'cam']);
    const signed = exportAudit(data, join(dir(), 'signed'));
    // The insider rewrites record 3, hashes the chain again, and backs up what is now in the database.
    rewriteAndRehash(data, 3);
    const backup = join(dir(), 'whitewashed.age');
    expect(adminCli(['backup', '--data', data, '--out', backup, ...backupTo()]).status).toBe(0);
    const database = readFileSync(join(data, 'relay.db'));
    const refused = restore(data, backup);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/the backup's audit log is not the one the relay signed: records? .*3.* differ .*nothing was restored/);
    expect(readFileSync(join(data, 'relay.db')).equals(database)).toBe(true);

    // Had the insider also emptied the relay's memory of what it signed (and the backup's copy of it), the
    // restore would go through; the officer's bundle proves the backup is not what the relay had signed.
    rmSync(join(data, SIGNED_CHECKPOINTS_FILE));
    const blind = join(dir(), 'blind.age');
    expect(adminCli(['backup', '--data', data, '--out', blind, ...backupTo()]).status).toBe(0);
    expect(restore(data, blind).status).toBe(0);
    const after = exportAudit(data, join(dir(), 'after'));
    const verified = roundsAudit(['verify', after, '--previous', signed]);
    expect(verified.out).toContain("the backup restored is not an extension of the previous bundle's log: records were rewritten before the restore");
    expect(verified.out).not.toMatch(/no signed records were lost/);
    expect(verified.status).not.toBe(0);
  }, 120_000);

  it('a genuine backup carries its tree: the verifier proves it extends an older bundle and matches a newer one', () => {
    const data = relayData(dir(), ['ana']);
    const older = exportAudit(data, join(dir(), 'older'));
    addUser(data, 'ben', 'Clinician ben');
    const backup = join(dir(), 'relay.age');
    expect(adminCli(['backup', '--data', data, '--out', backup, ...backupTo()]).status).toBe(0);
    addUser(data, 'cam', 'Clinician cam');
    const newer = exportAudit(data, join(dir(), 'newer'));
    // A line added to the relay's memory by hand (no signature of the relay's) neither blocks the restore nor counts.
    appendFileSync(join(data, SIGNED_CHECKPOINTS_FILE), `${JSON.stringify({ origin: checkpointOf(older).origin, size: 1, root: `${'A'.repeat(43)}=`, note: 'not a checkpoint', at: 0 })}\n`);
    const restored = restore(data, backup);
    expect(restored.status, restored.stderr).toBe(0);
    const after = exportAudit(data, join(dir(), 'after'));
    const [first] = records(after);
    expect(first?.details).toMatchObject({ backupSize: first?.details.backupRecords, backupRoot: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/) as unknown });
    expect(String(first?.details.consistency)).toContain(`${checkpointOf(older).size}:`);
    for (const previous of [older, newer]) {
      const verified = roundsAudit(['verify', after, '--previous', previous]);
      expect(verified.out).not.toMatch(/rewritten|could not be checked|does not carry/);
      expect(verified.status, verified.out).toBe(0);
    }
  }, 120_000);

  it('a second restore counts every signed record of the log it abandons as lost, and says what it discarded', () => {
    const data = relayData(dir(), ['ana']);
    const wrong = join(dir(), 'wrong.age');
    expect(adminCli(['backup', '--data', data, '--out', wrong, ...backupTo()]).status).toBe(0);
    for (const name of ['ben', 'cam', 'dee', 'eve', 'fay']) addUser(data, name, `Clinician ${name}`);
    const right = join(dir(), 'right.age');
    expect(adminCli(['backup', '--data', data, '--out', right, ...backupTo()]).status).toBe(0);
    expect(restore(data, wrong).status).toBe(0);
    addUser(data, 'gus', 'Clinician gus');
    const r1Bundle = exportAudit(data, join(dir(), 'r1'));
    const r1 = checkpointOf(r1Bundle);
    const r1Records = records(r1Bundle);
    // Records after the export, never signed: the second restore discards them too, and says so.
    addUser(data, 'hal', 'Clinician hal');
    const second = restore(data, right);
    expect(second.status, second.stderr).toBe(0);
    const [from, to] = [r1Records[0]?.seq ?? 0, (r1Records.at(-1)?.seq ?? 0)];
    expect(second.stdout).toContain(`the log the relay wrote until now, ${r1.origin}, is not the backup's: all of its signed records, ${from}..${to}, were lost`);
    expect(second.stdout).toMatch(new RegExp(`the restore discarded records ${from}\\.\\.\\d+ of the replaced database`));
    const after = exportAudit(data, join(dir(), 'r2'));
    const [start] = records(after);
    expect(start?.details).toMatchObject({ replacedLog: r1.origin, replacedLostFrom: from, replacedLostTo: to, discardedFrom: from });
    expect(Number(start?.details.discardedTo)).toBeGreaterThan(to);
    const verified = roundsAudit(['verify', after, '--previous', r1Bundle]);
    expect(verified.out).toContain(`restored from a backup: records ${from}..${to} of the previous log were lost (all of that log`);
    expect(verified.out).toContain(`the restore discarded records ${from}..`);
    expect(verified.out).not.toMatch(/no signed records were lost/);
    expect(verified.status, verified.out).toBe(0);
  }, 180_000);

  it('a restore over records never exported counts them in its first record', () => {
    const { data, backup } = backedUpThenBusy(dir(), dir());
    const before = exportAudit(data, join(dir(), 'before'));
    for (const name of ['cam', 'dee']) addUser(data, name, `Clinician ${name}`);
    const live = adminCli(['audit', 'check', '--data', data]);
    const lastSeq = Number(/(\d+) records/.exec(live.stdout)?.[1]);
    const restored = restore(data, backup);
    expect(restored.status, restored.stderr).toBe(0);
    const after = exportAudit(data, join(dir(), 'after'));
    const [start] = records(after);
    const from = Number(start?.details.backupRecords) + 1;
    expect(restored.stdout).toContain(`the restore discarded records ${from}..${lastSeq} of the replaced database`);
    expect(start?.details).toMatchObject({ discardedFrom: from, discardedTo: lastSeq, discardedHead: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown });
    expect(roundsAudit(['verify', after, '--previous', before]).out).toContain(`the restore discarded records ${from}..${lastSeq}`);
  }, 120_000);

  it('a backup from before the audit key existed keeps the organisation\'s key', () => {
    const data = dir();
    for (const name of ['ana', 'ben']) addUser(data, name, `Clinician ${name}`);
    const backup = join(dir(), 'first-day.age');
    expect(adminCli(['backup', '--data', data, '--out', backup, ...backupTo()]).status).toBe(0);
    const before = exportAudit(data, join(dir(), 'before'));
    const key = readFileSync(join(before, 'signer.pub.pem'), 'utf8');
    const restored = restore(data, backup);
    expect(restored.status, restored.stderr).toBe(0);
    const after = exportAudit(data, join(dir(), 'after'));
    expect(readFileSync(join(after, 'signer.pub.pem'), 'utf8')).toBe(key);
    const verified = roundsAudit(['verify', after, '--previous', before]);
    expect(verified.out).not.toMatch(/re-signed by someone else/);
    expect(verified.status, verified.out).toBe(0);
  }, 120_000);

  it('exports an earlier log the database still holds, consistent with what was signed of it, and refuses a rewritten one', () => {
    const data = relayData(dir(), ['ana']);
    const before = exportAudit(data, join(dir(), 'before'));
    const old = checkpointOf(before);
    // Written after the export and before the backup: the restore keeps it, and no bundle of the new log holds it.
    addUser(data, 'ben', 'Clinician ben');
    const backup = join(dir(), 'relay.age');
    expect(adminCli(['backup', '--data', data, '--out', backup, ...backupTo()]).status).toBe(0);
    expect(restore(data, backup).status).toBe(0);
    const earlier = join(dir(), 'earlier');
    const exported = adminCli(['audit', 'export', '--data', data, '--log', old.origin, '--out', earlier]);
    expect(exported.status, exported.stderr).toBe(0);
    expect(checkpointOf(earlier).origin).toBe(old.origin);
    expect(records(earlier).some((r) => r.details.username === 'ben')).toBe(true);
    expect(records(earlier)).toHaveLength(checkpointOf(earlier).size);
    const verified = roundsAudit(['verify', earlier, '--previous', before]);
    expect(verified.status, verified.out).toBe(0);
    expectNoContradiction(data);
    expect(adminCli(['audit', 'export', '--data', data, '--log', 'rounds.relay/nosuchlog', '--out', join(dir(), 'none')]).stderr).toMatch(/no records of an earlier log named rounds\.relay\/nosuchlog/);
    // Records of the earlier log rewritten in the database (and the chain hashed again): nothing is signed.
    rewriteAndRehash(data, 2);
    const refused = adminCli(['audit', 'export', '--data', data, '--log', old.origin, '--out', join(dir(), 'rewritten')]);
    expect(refused.status).toBe(1);
    // Re-hashing the chain changes the restore record after it too, which the current log's tree shows first.
    expect(refused.stderr).toMatch(/is not the one the relay signed: .*nothing was exported|current audit log does not check out.*nothing was exported/);
    // The refusal is itself in the log, flagged, naming the earlier log and why.
    const db = openRelayDatabase(data);
    try {
      const audited = db.prepare("SELECT actor, details, flagged FROM audit_log WHERE type = 'audit.export_refused'").all() as { actor: string; details: string; flagged: number }[];
      expect(audited.map((r) => ({ ...r, details: JSON.parse(r.details) as unknown }))).toEqual([{ actor: expect.stringMatching(/^admin/), details: { log: old.origin, reason: expect.stringMatching(/does not check out|not those the relay signed/) }, flagged: 1 }]);
    } finally {
      db.close();
    }
  }, 120_000);
});
