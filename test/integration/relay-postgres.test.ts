import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_KEY_FILE, AUDIT_LOG_ID_FILE } from '../../server/audit/auditKey';
import { PostgresDatabase } from '../../server/storage/postgres/PostgresDatabase';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../fixtures/postgres';
import { RelayClient } from '../../main/core/messaging/RelayClient';
import { Clinician, RelayProcess, adminCli, nextTotp, removeDir, tempDataDir } from '../fixtures/relayProcess';
import { newConversationId, textPayload } from '../fixtures/protocolHarness';
import { until } from '../fixtures/workstation';

/*
 * Issue 17: relays sharing one PostgreSQL database. Each instance has its own data directory (TLS, lock,
 * audit key); accounts, queues and the audit log are the database's. A device connected to one instance
 * receives what another accepted, and a revocation made anywhere cuts its socket wherever it is.
 */
const unavailable = postgresUnavailable();
if (unavailable) console.log(`relays on PostgreSQL skipped: ${unavailable}`);

describe.skipIf(unavailable !== null)('relays on one PostgreSQL database', () => {
  let pg: TestPostgres;
  let url: string;
  const dirs: string[] = [];
  const relays: RelayProcess[] = [];
  const database = () => ['--database', url, '--database-password-file', pg.passwordFile];

  beforeAll(async () => {
    pg = await startPostgres();
    url = await pg.newDatabase();
  }, 60_000);
  afterAll(async () => {
    for (const relay of relays) await relay.stop();
    for (const dir of dirs) removeDir(dir);
    await pg?.stop();
  });

  function dataDir(): string {
    const dir = tempDataDir();
    dirs.push(dir);
    return dir;
  }

  /** An instance; with `auditFrom`, the org audit key and log id copied from that instance's directory first (docs/deployment.md). */
  async function relay(auditFrom?: RelayProcess): Promise<RelayProcess> {
    const dir = dataDir();
    if (auditFrom) for (const file of [AUDIT_KEY_FILE, AUDIT_LOG_ID_FILE]) copyFileSync(join(auditFrom.dataDir, file), join(dir, file));
    const started = await RelayProcess.start(dir, database());
    relays.push(started);
    return started;
  }

  /** `user add` through the database; the enrollment code. */
  function addUser(username: string): string {
    const result = adminCli(['user', 'add', '--data', dataDir(), ...database(), '--username', username, '--display-name', username, '--role', 'clinician']);
    const code = /enrollment code: (\S+)/.exec(result.stdout)?.[1];
    if (result.status !== 0 || !code) throw new Error(`user add failed: ${result.stderr}`);
    return code;
  }

  it('will not serve a database the relay schema is not in, and says which command to run', () => {
    const result = adminCli(['serve', '--data', dataDir(), '--port', '0', ...database()]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('run rounds-server migrate with the same --database');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('delivers across instances, and a revocation cuts the socket on whichever instance holds it', async () => {
    expect(adminCli(['migrate', ...database()]).status).toBe(0);
    const a = await relay();
    const b = await relay(a);
    for (const instance of [a, b]) {
      const ready = await fetch(`${instance.url}/readyz`);
      expect(ready.status).toBe(200);
    }
    const alice = await Clinician.enroll(a.url, 'alice', addUser('alice'), 'correct horse battery staple');
    const bob = await Clinician.enroll(b.url, 'bob', addUser('bob'), 'correct horse battery staple');
    await Promise.all([alice.connect(), bob.connect()]);

    // Accepted by A, delivered by B (woken by A's NOTIFY, not by a poll: well within the wait below).
    const conversation = newConversationId();
    for (let i = 1; i <= 5; i++) await alice.send([bob.address.userId], textPayload(conversation, `Bed 12 potassium ${i}`));
    await bob.waitFor(5, 10_000);
    expect(bob.received.map((m) => (m.payload.type === 'text' ? m.payload.text : m.payload.type))).toEqual([1, 2, 3, 4, 5].map((i) => `Bed 12 potassium ${i}`));
    expect(bob.failures).toEqual([]);

    // Alice's new status, set through A: B tells bob's socket that it changed (A's NOTIFY), which he then reads.
    await alice.relay.setPresence({ update: { status: 'inProcedure', note: 'Theatre 3' }, forwarding: null });
    await until(() => bob.statusChanges.includes(alice.address.userId), "word of alice's new status to reach bob through the other instance", 5_000);
    expect(bob.statusChanges).toEqual([alice.address.userId]);
    expect((await bob.relay.presence([alice.address.userId]))[0]).toMatchObject({ status: 'inProcedure', note: 'Theatre 3' });

    // Bob signs in again at the same workstation through A (a new credential): B cuts the socket that still
    // uses the old one at once, not at its next frame; the workstation reconnects with the new one.
    const renewed = await new RelayClient(a.url).login('bob', 'correct horse battery staple', await nextTotp('bob'), { kind: 'existing', deviceId: bob.address.deviceId });
    expect(renewed.deviceId).toBe(bob.address.deviceId);
    await until(() => bob.connection?.open === false, 'the socket with the replaced credential to close', 5_000);
    const bobAgain = bob.on(b.url, renewed);
    await bobAgain.connect();
    await alice.send([bob.address.userId], textPayload(conversation, 'Bed 12 potassium 6'));
    await bobAgain.waitFor(1, 10_000);

    // The admin revokes bob's workstation with a command that talks to the database only: B cuts the socket.
    const revoked = adminCli(['device', 'revoke', 'bob', String(bob.address.deviceId), '--data', dataDir(), ...database()]);
    expect(revoked.status, revoked.stderr).toBe(0);
    await until(() => bobAgain.connection?.open === false, 'the revoked socket to close', 5_000);

    // Exports through either instance sign one log with the one org key, and both remember what they signed
    // in the database, where the next export through any instance checks it.
    for (const instance of [a, b]) {
      const out = join(instance.dataDir, 'export.zip');
      const exported = adminCli(['audit', 'export', '--data', instance.dataDir, ...database(), '--from', '2020-01-01', '--to', '2100-01-01', '--out', out]);
      expect(exported.status, exported.stderr).toBe(0);
    }
    const db = PostgresDatabase.connect({ url, password: pg.password });
    try {
      const remembered = (await db.pool.query<{ origin: string; size: string }>('SELECT origin, size FROM audit_checkpoints ORDER BY id')).rows;
      expect(remembered).toHaveLength(2);
      expect(new Set(remembered.map((r) => r.origin)).size).toBe(1);
      expect(Number(remembered[1]?.size)).toBeGreaterThan(Number(remembered[0]?.size));
    } finally {
      await db.close();
    }
  }, 120_000);

  it('holds a device to one send allowance, however it spreads its sends over the instances', async () => {
    url = await pg.newDatabase();
    expect(adminCli(['migrate', ...database()]).status).toBe(0);
    const limit = ['--send-envelopes-per-minute', '4'];
    const a = await RelayProcess.start(dataDir(), [...database(), ...limit]);
    relays.push(a);
    const b = await RelayProcess.start(dataDir(), [...database(), ...limit]);
    relays.push(b);
    const carol = await Clinician.enroll(a.url, 'carol', addUser('carol'), 'correct horse battery staple');
    const dave = await Clinician.enroll(b.url, 'dave', addUser('dave'), 'correct horse battery staple');
    const conversation = newConversationId();
    const viaB = carol.on(b.url);
    // Four envelopes a minute: two through A, two through B, and the fifth is refused wherever it goes.
    for (const sender of [carol, carol, viaB, viaB]) await sender.send([dave.address.userId], textPayload(conversation, 'obs due'));
    for (const sender of [carol, viaB]) await expect(sender.send([dave.address.userId], textPayload(conversation, 'one too many'))).rejects.toMatchObject({ code: 'SEND_RATE_LIMITED' });
  }, 60_000);
});
