import { Decrypter, Encrypter } from 'age-encryption';
import { unzipSync, zipSync } from 'fflate';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backupRelay } from '../../server/backup';
import { readIdentityFile } from '../../server/backupEncryption';
import { unlockRelayDatabase } from '../../server/DatabaseKeyFile';
import { openStore } from '../../server/openStore';
import { describe, expect, it } from 'vitest';
import { signedCheckpoints } from '../../server/audit/signedCheckpoints';
import { verifyPath } from '../../server/audit/verifyCli';
import { newConversationId, textPayload } from '../fixtures/protocolHarness';
import { Clinician, RelayProcess, adminCli, addUser, backupTo, restoreWith, testBackupKey } from '../fixtures/relayProcess';
import { useTempDirs } from '../fixtures/tempDirs';

const PASSWORD = 'correct horse battery staple 7';
const RANGE = ['--from', '2020-01-01', '--to', '2100-01-01'];

describe('relay backup and restore', () => {
  const dir = useTempDirs();
  it('takes a consistent backup while the relay runs; a restore keeps queued messages, the audit log and its key', async () => {
    const data = dir();
    let relay = await RelayProcess.start(data);
    const alice = await Clinician.enroll(relay.url, 'alice', addUser(data, 'alice', 'Alice'), PASSWORD);
    const bob = await Clinician.enroll(relay.url, 'bob', addUser(data, 'bob', 'Bob'), PASSWORD);
    const conversation = newConversationId();
    // Bob is offline: five messages wait for him in the relay's queue.
    for (let i = 0; i < 5; i++) await alice.send([bob.address.userId], textPayload(conversation, `queued ${i}`));
    const before = join(dir(), 'before');
    expect(adminCli(['audit', 'export', '--data', data, ...RANGE, '--out', before]).status).toBe(0);
    const backup = join(dir(), 'relay-backup.age');
    const result = adminCli(['backup', '--data', data, '--out', backup, ...backupTo()]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/backed up to .*audit log: \d+ records/);
    await relay.stop();

    // A new machine: restore, start, and Bob gets his messages.
    const restored = dir();
    const restore = adminCli(['restore', '--data', restored, '--from', backup, ...restoreWith()]);
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/audit log intact/);
    expect(adminCli(['restore', '--data', restored, '--from', backup, ...restoreWith()]).stderr).toMatch(/already holds a relay database/);
    relay = await RelayProcess.start(restored);
    try {
      const bobAgain = bob.on(relay.url);
      await bobAgain.connect();
      await bobAgain.waitFor(5);
      expect(bobAgain.received.map((m) => (m.payload.type === 'text' ? m.payload.text : '')).sort()).toEqual(['queued 0', 'queued 1', 'queued 2', 'queued 3', 'queued 4']);
      await bobAgain.disconnect();
    } finally {
      await relay.stop();
    }
    // The same key signs. The log goes on as a new log, started by the restore, which follows the one
    // exported before the backup: the new machine learnt that export's checkpoint from the backup.
    expect(signedCheckpoints(restored).map((c) => c.note)).toContain(readFileSync(join(before, 'checkpoint'), 'utf8'));
    const after = join(dir(), 'after');
    expect(adminCli(['audit', 'export', '--data', restored, ...RANGE, '--out', after]).status).toBe(0);
    const verdict = verifyPath(after, { previous: before, key: join(before, 'signer.pub.pem') });
    expect(verdict.failures).toEqual([]);
    expect(verdict.origin).not.toBe(verifyPath(before, {}).origin);
    expect(verdict.notes.join('\n')).toMatch(/restored from a backup taken at the end of the previous log as it was signed \(\d+ records\): no signed records were lost/);
    expect(adminCli(['restore', '--data', dir(), '--from', join(dir(), 'missing.zip')]).stderr).toMatch(/no backup at/);
  }, 120_000);

  it('describes the copy it took, not the live log, so a backup of a busy relay restores', async () => {
    const data = dir();
    addUser(data, 'busy', 'Busy Ward');
    const store = openStore(data);
    try {
      // The running relay appends audit records between the copy and anything read after it.
      const busy = Object.create(store) as typeof store;
      busy.backup = async (path: string) => {
        await store.backup(path);
        await store.appendAudit([{ type: 'login.failure', actor: 'anonymous@127.0.0.1', subject: '', details: { reason: 'during the backup' } }]);
      };
      const file = join(dir(), 'busy.age');
      const { auditRecords } = await backupRelay(busy, data, file, { databaseKey: unlockRelayDatabase(data).key, encryption: { kind: 'recipients', recipients: [testBackupKey().recipient] } });
      expect(auditRecords).toBe((await store.checkAuditChain()).records - 1);
      const restored = adminCli(['restore', '--data', dir(), '--from', file, ...restoreWith()]);
      expect(restored.status, restored.stderr).toBe(0);
      expect(restored.stdout).toContain(`audit log intact, ${auditRecords} records`);
    } finally {
      await store.close();
    }
  });

  it('checks a backup before it replaces anything: a bad one leaves the data directory as it was', async () => {
    const data = dir();
    addUser(data, 'keep', 'Keep Ward');
    const file = join(dir(), 'good.age');
    expect(adminCli(['backup', '--data', data, '--out', file, ...backupTo()]).status).toBe(0);
    // The manifest claims a record more than the database holds (as a mixed-up backup would, encrypted by
    // someone holding the recipient key).
    const decrypter = new Decrypter();
    for (const identity of readIdentityFile(testBackupKey().identityFile)) decrypter.addIdentity(identity);
    const entries = unzipSync(await decrypter.decrypt(readFileSync(file)));
    const manifest = JSON.parse(Buffer.from(entries['manifest.json'] ?? new Uint8Array()).toString('utf8')) as { auditRecords: number };
    const bad = join(dir(), 'bad.age');
    const encrypter = new Encrypter();
    encrypter.addRecipient(testBackupKey().recipient);
    writeFileSync(bad, await encrypter.encrypt(zipSync({ ...entries, 'manifest.json': Buffer.from(JSON.stringify({ ...manifest, auditRecords: manifest.auditRecords + 1 })) })));
    const target = dir();
    addUser(target, 'other', 'Other Ward');
    const before = readFileSync(join(target, 'relay.db'));
    const refused = adminCli(['restore', '--data', target, '--from', bad, '--force', ...restoreWith()]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/not the one its manifest describes .*nothing was restored/);
    expect(readFileSync(join(target, 'relay.db')).equals(before)).toBe(true);
    expect(adminCli(['user', 'list', '--data', target]).stdout).toMatch(/^other\t/m);
    writeFileSync(bad, 'not a zip');
    expect(adminCli(['restore', '--data', target, '--from', bad, '--force', ...restoreWith()]).stderr).toMatch(/is not a Rounds relay backup/);
    expect(adminCli(['user', 'list', '--data', target]).stdout).toMatch(/^other\t/m);
  });
});
