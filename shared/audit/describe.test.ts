import { describe, expect, it } from 'vitest';
import { ANNA, BEN, CHIDI, DANA, SAMPLE_DIRECTORY, sampleRecords } from './auditSample';
import { AuditDescriber, auditTypeLabel, type DescribedRecord } from './describe';
import { AuditNames } from './people';

const describer = () => new AuditDescriber(new AuditNames(SAMPLE_DIRECTORY));
let seq = 0;
const relay = (type: string, actor: string, subject: string, details: Record<string, unknown> = {}, flagged = false): DescribedRecord =>
  ({ seq: ++seq, at: Date.UTC(2026, 11, 2, 13, 5), type, actor, subject, details, flagged });
const say = (record: DescribedRecord, d = describer()) => d.sentence(record);

describe('who an actor or subject is', () => {
  const names = new AuditNames(SAMPLE_DIRECTORY);

  it('names users, their workstations, administrators, the API, addresses and the relay', () => {
    expect(names.party(`${ANNA}.1`)).toMatchObject({ kind: 'workstation', username: 'asmith', displayName: 'Dr. Anna Smith', workstation: "Ward 4 nurses' station", label: 'Dr. Anna Smith (asmith, clinician)' });
    expect(names.party(BEN)).toMatchObject({ kind: 'user', username: 'bokafor', label: 'Ben Okafor (bokafor, nurse)' });
    expect(names.party('admin:jdoe')).toMatchObject({ kind: 'admin', osAccount: 'jdoe', label: 'administrator jdoe (relay command line)' });
    expect(names.party('admin').label).toBe('an administrator (command line; account not recorded)');
    expect(names.party(`api:${DANA}.1`)).toMatchObject({ kind: 'api', username: 'dlee', workstation: 'Compliance office' });
    expect(names.party('anonymous@10.0.0.7')).toMatchObject({ kind: 'anonymous', address: '10.0.0.7' });
    expect(names.party('system').kind).toBe('system');
    expect(names.party('').kind).toBe('none');
  });

  it('says so when the directory lacks a user or a workstation, showing only the start of the id', () => {
    const stranger = '0badc0de-0000-4000-8000-000000000000';
    expect(names.party(stranger).label).toBe('unknown user 0badc0de…');
    expect(names.party(`${CHIDI}.9`).workstation).toBe('workstation 9');
    expect(names.party(stranger, true)).toMatchObject({ kind: 'envelope', label: 'envelope 0badc0de…' });
    expect(names.party('not an id.at.all').kind).toBe('other');
  });
});

describe('one sentence per record', () => {
  it('says who signed in where, and why a sign-in failed, in words', () => {
    expect(say(relay('login.success', `${ANNA}.1`, ANNA, { device: 1 }))).toBe("Dr. Anna Smith (asmith, clinician) signed in at Ward 4 nurses' station.");
    expect(say(relay('login.success', 'anonymous@10.0.0.7', ANNA, { newDevice: true }))).toBe('Dr. Anna Smith (asmith, clinician) signed in on a new workstation from 10.0.0.7.');
    expect(say(relay('login.failure', 'anonymous@10.0.0.7', ANNA, { factor: 'one-time code', consecutive: 3 }))).toBe('Failed sign-in for Dr. Anna Smith (asmith, clinician) from 10.0.0.7: wrong one-time code (3rd in a row).');
    expect(say(relay('login.failure', `${ANNA}.1`, ANNA, { factor: 'password', device: 1, consecutive: 2 }))).toBe("Failed sign-in for Dr. Anna Smith (asmith, clinician) at Ward 4 nurses' station: wrong password (2nd in a row at this workstation).");
    expect(say(relay('login.failure', 'anonymous@10.0.0.7', '', { reason: 'unknown user' }))).toBe('Failed sign-in from 10.0.0.7: no account has that username.');
    expect(say(relay('login.failure', 'anonymous@10.0.0.7', '', { step: 'enrollment', username: 'zz' }))).toBe('Failed enrollment of username “zz” from 10.0.0.7: wrong or expired enrollment code.');
    expect(say(relay('login.failure', 'anonymous@10.0.0.7', BEN, { reason: 'emergency code', username: 'bokafor', count: 2 }))).toBe('Wrong emergency access code for Ben Okafor (bokafor, nurse) from 10.0.0.7 (2nd wrong code).');
  });

  it('says how a sign-in lock was lifted', () => {
    expect(say(relay('account.unlocked', 'anonymous@10.0.0.7', ANNA, { by: 'sign-in with the identity provider', method: 'sso' }))).toBe('The sign-in lock of Dr. Anna Smith (asmith, clinician) was lifted by a sign-in with the identity provider from 10.0.0.7.');
  });

  it('says why an export was refused: the current log\'s broken chain, or an earlier log that cannot be vouched for', () => {
    expect(say(relay('audit.export_refused', 'admin:root', '', { from: 0, to: 1, chainBrokenAt: 12, reason: 'hash mismatch' }))).toBe('Audit export by administrator root (relay command line) refused: the log\'s hash chain is broken at record 12 (hash mismatch).');
    expect(say(relay('audit.export_refused', 'admin:root', '', { log: 'rounds.relay/abc', reason: 'its records are not those the relay signed' }))).toBe('Audit export of the earlier log rounds.relay/abc by administrator root (relay command line) refused: its records are not those the relay signed.');
  });

  it('names the administrator and the OS account behind an admin action, and the range of an export', () => {
    expect(say(relay('audit.exported', 'admin:jdoe', '', { from: 0, to: Number.MAX_SAFE_INTEGER, records: 50, treeSize: 50 })))
      .toBe('Audit log exported by administrator jdoe (relay command line): 50 records from the start of the log to the time of export; the log then held 50 records.');
    expect(say(relay('emergency.issued', 'admin:jdoe', ANNA, { reason: 'Laptop lost', expiresAt: Date.UTC(2026, 11, 2, 21) }, true)))
      .toBe('Administrator jdoe (relay command line) issued emergency access for Dr. Anna Smith (asmith, clinician) until 2026-12-02 22:00:00 GMT+1; reason given: “Laptop lost”.');
    expect(say(relay('device.revoked', 'admin', `${ANNA}.2`))).toBe("An administrator (command line; account not recorded) revoked the workstation “Anna's laptop” of Dr. Anna Smith (asmith, clinician).");
    expect(say(relay('audit.exported', 'admin:jdoe', '', { log: 'rounds.relay/3f2a-r1', firstSeq: 1, records: 48, logSize: 48 }))).toMatch(/48 records of the earlier log rounds\.relay\/3f2a-r1 \(from record 1, 48 records\)/);
    expect(say(relay('audit.exported', `api:${DANA}.1`, ANNA, { from: 0, to: Number.MAX_SAFE_INTEGER, records: 3, treeSize: 9 }))).toMatch(/^Audit log exported by Dana Lee \(dlee, compliance\) through the relay's API for Dr\. Anna Smith/);
  });

  it('names both ends of a message: the recipient when sent, the sender when delivered', () => {
    const d = describer();
    const envelope = 'aaaaaaaa-0000-4000-8000-000000000001';
    const sent = relay('envelope.accepted', `${ANNA}.1`, envelope, { recipient: `${BEN}.1`, size: 400, type: 1 });
    const delivered = relay('envelope.delivered', `${BEN}.1`, envelope);
    expect(d.facts(sent).counterparties.map((p) => p.username)).toEqual(['bokafor']);
    expect(say(sent, d)).toBe("Message sent by Dr. Anna Smith (asmith, clinician) at Ward 4 nurses' station to Ben Okafor (bokafor, nurse) at Ward 4 nurses' station.");
    expect(say(delivered, d)).toBe("Message from Dr. Anna Smith (asmith, clinician) delivered to Ben Okafor (bokafor, nurse) at Ward 4 nurses' station.");
    expect(say(relay('envelope.delivered', `${BEN}.1`, 'aaaaaaaa-0000-4000-8000-00000000ffff'))).toBe("Message delivered to Ben Okafor (bokafor, nurse) at Ward 4 nurses' station.");
  });

  it('tells the outcome apart: success, failure, refused, locked', () => {
    const d = describer();
    expect(d.facts(relay('login.success', `${ANNA}.1`, ANNA)).outcome).toBe('success');
    expect(d.facts(relay('login.failure', 'anonymous@1.2.3.4', ANNA)).outcome).toBe('failure');
    expect(d.facts(relay('envelope.refused', `${ANNA}.1`, BEN)).outcome).toBe('refused');
    expect(d.facts(relay('credential.rejected', 'anonymous@1.2.3.4', `${ANNA}.2`)).outcome).toBe('refused');
    expect(d.facts(relay('account.locked', 'system', BEN, {}, true))).toMatchObject({ outcome: 'locked', flagged: true });
  });

  it("describes a workstation's records as done by its own user, legacy kinds included", () => {
    const d = new AuditDescriber(new AuditNames(SAMPLE_DIRECTORY), undefined, { username: 'asmith', displayName: 'Dr. Anna Smith', deviceName: "Ward 4 nurses' station" });
    const local = (type: string, details: Record<string, unknown>) => d.sentence({ seq: 1, at: 0, type, details });
    expect(local('session.unlocked', { keyProtection: 'passphraseOnly' })).toBe("Dr. Anna Smith (asmith, clinician) unlocked Rounds at Ward 4 nurses' station (profile key protected by the passphrase only).");
    expect(local('autoLock', { reason: 'inactivity' })).toBe("Rounds locked at Ward 4 nurses' station after inactivity.");
    expect(local('unlock.failed', {})).toBe("Failed attempt to unlock Rounds at Ward 4 nurses' station (wrong passphrase).");
    expect(local('message.sent', { conversation: 'c', message: 'm', sender: `${ANNA}.1`, recipients: `${BEN}.1 ${ANNA}.2 ${CHIDI}.1`, ciphertextSha256: 'ab'.repeat(32) }))
      .toBe('Message sent by Dr. Anna Smith (asmith, clinician) to Ben Okafor (bokafor, nurse) and Dr. Chidi Nwosu (cnwosu, clinician).');
    expect(local('message.received', { conversation: 'c', message: 'm', sender: `${BEN}.1`, recipients: `${ANNA}.1`, ciphertextSha256: null })).toBe('Message from Ben Okafor (bokafor, nurse) received by Dr. Anna Smith (asmith, clinician).');
    expect(local('contact.verified', { user: CHIDI, device: '1' })).toBe('Dr. Anna Smith (asmith, clinician) verified the safety number of Dr. Chidi Nwosu (cnwosu, clinician) for the workstation “Radiology reading room”.');
    const stranger = new AuditDescriber(new AuditNames(SAMPLE_DIRECTORY), undefined, { username: 'zed', displayName: 'Zed Young', deviceName: 'Kiosk' });
    expect(stranger.sentence({ seq: 1, at: 0, type: 'signIn', details: {} })).toBe('Zed Young (zed) signed in to Rounds at Kiosk.');
    expect(local('policy.loaded', { maxInactivityMinutes: 5, retentionDays: 30 })).toBe('Organisation policy applied: lock after 5 min of inactivity; messages kept 30 days.');
  });

  it('says what a restore lost, and which backup and log it continued', () => {
    const details = { log: 'rounds.relay/3f2a-r0a1b2c3d', backupFile: 'nightly.tar.age', backupCreatedAt: Date.UTC(2026, 11, 1, 2), backupRecords: 48, backupHead: 'ab'.repeat(32), previousLog: 'rounds.relay/3f2a', previousFirstSeq: 1, previousCheckpointSize: 50, previousCheckpointRoot: 'x', previousCheckpoint: 'x', lostFrom: 49, lostTo: 50, replacedLog: null, replacedCheckpoint: null };
    expect(say(relay('audit.log_restored', 'admin:jdoe', '', details, true))).toBe('Administrator jdoe (relay command line) restored the relay from the backup “nightly.tar.age”, taken 2026-12-01 03:00:00 GMT+1, holding 48 records; this log continues rounds.relay/3f2a under a new name. Records 49 to 50 of the previous log, signed before, were lost.');
    expect(say(relay('audit.log_restored', 'admin:jdoe', '', { ...details, lostFrom: null, lostTo: null }, true))).toMatch(/No record the previous log had signed was lost\.$/);
  });

  it('gives a type it does not know a readable sentence, without JSON or hashes', () => {
    const s = say(relay('audit.future_thing', 'admin:jdoe', '', { backup: 'nightly-2026-12-01', lostFrom: 49, lostTo: 50, lastRoot: 'ab'.repeat(32), nested: { a: 1 } }));
    expect(s).toBe('Administrator jdoe (relay command line) recorded “audit.future_thing” (backup nightly-2026-12-01; lostFrom 49; lostTo 50).');
    expect(auditTypeLabel('audit.future_thing')).toBe('audit.future_thing');
    expect(auditTypeLabel('login.failure')).toBe('Failed sign-in');
  });

  it('never prints a UUID, a hash or JSON for the sample week', () => {
    const d = describer();
    for (const record of sampleRecords()) {
      const s = d.sentence(record);
      expect(s, record.type).not.toMatch(/[{}]|[0-9a-f]{8}-[0-9a-f]{4}-|[0-9a-f]{32}/);
      expect(s, record.type).toMatch(/^[A-Z0-9“].*\.$/);
    }
  });
});
