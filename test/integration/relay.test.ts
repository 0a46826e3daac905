import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelayClient, RelayRequestError } from '../../main/core/messaging/RelayClient';
import { newConversationId, textPayload } from '../fixtures/protocolHarness';
import { Clinician, RelayProcess, addUser, adminCli, nextTotp, removeDir, tempDataDir } from '../fixtures/relayProcess';

const PASSWORD = 'correct horse battery staple 7';


/** Retries while the relay says THROTTLED, waiting as long as it asks. */
async function patiently<T>(attempt: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      const failure = error as RelayRequestError;
      if (failure.code !== 'THROTTLED') throw error;
      await new Promise((r) => setTimeout(r, (failure.details.retryAfterMs ?? 0) + 5));
    }
  }
}

const texts = (c: Clinician) => c.received.flatMap((m) => (m.payload.type === 'text' ? [m.payload.text] : []));

describe('relay: enrollment, login and store-and-forward through a real relay process', () => {
  let dataDir: string;
  let relay: RelayProcess;

  beforeAll(async () => {
    dataDir = tempDataDir();
    // The prekey test fetches one colleague's bundles 15 times from each of two devices at once (a client
    // does so once per session); the per-pair key-fetch limit is tested in relay-limits.test.ts.
    relay = await RelayProcess.start(dataDir, ['--key-fetches-per-pair-hour', '100']);
  });

  afterAll(async () => {
    await relay.stop();
    removeDir(dataDir);
  });

  it('enrolls two clinicians who exchange 1,000 messages each way; an offline device gets its queue in order', async () => {
    const alice = await Clinician.enroll(relay.url, 'alice', addUser(dataDir, 'alice', 'Dr. Alice Moreau'), PASSWORD);
    const bob = await Clinician.enroll(relay.url, 'bob', addUser(dataDir, 'bob', 'Nurse Bob Okafor'), PASSWORD);
    // A second device for Bob, signed in with password + TOTP.
    const bob2 = await Clinician.login(relay.url, 'bob', PASSWORD, 'Nurses station');
    expect(bob2.address.userId).toBe(bob.address.userId);
    expect(bob2.address.deviceId).not.toBe(bob.address.deviceId);
    for (const c of [alice, bob, bob2]) await c.connect();

    const conversation = newConversationId();
    for (let round = 0; round < 10; round++) {
      const sends: Promise<string[]>[] = [];
      for (let i = 0; i < 100; i++) {
        const n = round * 100 + i;
        sends.push(alice.send([bob.address.userId], textPayload(conversation, `a->b ${n}`)));
        sends.push(bob.send([alice.address.userId], textPayload(conversation, `b->a ${n}`)));
      }
      await Promise.all(sends);
    }
    await alice.waitFor(1000);
    await bob.waitFor(1000);
    // Bob's second device gets Alice's messages and a copy of what Bob sent.
    await bob2.waitFor(2000);
    expect(alice.failures).toEqual([]);
    expect(bob.failures).toEqual([]);
    expect(new Set(texts(bob)).size).toBe(1000);
    expect(texts(alice).filter((t) => t.startsWith('b->a')).length).toBe(1000);

    // Bob goes offline; Alice writes 50 messages; Bob comes back and receives them in order.
    await bob.disconnect();
    const before = bob.received.length;
    for (let i = 0; i < 50; i++) await alice.send([bob.address.userId], textPayload(conversation, `while away ${i}`));
    await bob.connect();
    await bob.waitFor(before + 50);
    expect(texts(bob).slice(before)).toEqual(Array.from({ length: 50 }, (_, i) => `while away ${i}`));
    for (const c of [alice, bob, bob2]) await c.disconnect();
  });

  it('hands out each one-time prekey once, even to concurrent requests', async () => {
    const carol = await Clinician.enroll(relay.url, 'carol', addUser(dataDir, 'carol', 'Dr. Carol Diaz'), PASSWORD);
    const fetchers = await Promise.all(['dan', 'erin'].map(async (name) => Clinician.enroll(relay.url, name, addUser(dataDir, name, name.toUpperCase()), PASSWORD)));
    const counts = await carol.relay.keyCount();
    expect(counts.preKeys).toBe(20);
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => fetchers[i % 2]!.relay.bundles(carol.address.userId)));
    const preKeyIds = results.flatMap((bundles) => bundles.flatMap((b) => (b.preKey ? [b.preKey.keyId] : [])));
    const kyberIds = results.flatMap((bundles) => bundles.map((b) => b.kyberPreKey.keyId));
    expect(preKeyIds).toHaveLength(20);
    expect(new Set(preKeyIds).size).toBe(20);
    // Once the one-time Kyber keys are gone, everyone gets the same last-resort key.
    expect(new Set(kyberIds).size).toBe(21);
    expect(await carol.relay.keyCount()).toEqual({ preKeys: 0, kyberPreKeys: 0 });
  });

  it('throttles 50 wrong passwords with growing delays, locks the account, and audits all of it', async () => {
    await Clinician.enroll(relay.url, 'frank', addUser(dataDir, 'frank', 'Frank Li'), PASSWORD);
    const attacker = new RelayClient(relay.url);
    const outcomes: string[] = [];
    // Guesses until ten verdicts: a locked account answers a guess like any other account (issue 13), and
    // the delays keep growing, so a patient guesser would wait minutes for the next ones.
    for (let i = 0; i < 50 && outcomes.filter((o) => o === 'INVALID_CREDENTIALS').length < 10; i++) {
      try {
        await attacker.login('frank', `wrong password number ${i}`, '123456', { kind: 'existing', deviceId: 1 as never });
        outcomes.push('OK');
      } catch (error) {
        const failure = error as RelayRequestError;
        outcomes.push(failure.code);
        // A patient guesser waits exactly as long as the relay says.
        if (failure.code === 'THROTTLED') await new Promise((r) => setTimeout(r, (failure.details.retryAfterMs ?? 0) + 5));
      }
    }
    expect(outcomes).not.toContain('OK');
    expect(outcomes).toContain('THROTTLED');
    expect(outcomes.filter((o) => o === 'INVALID_CREDENTIALS')).toHaveLength(10);
    // Locked means locked: the right password and code do not help (and only they learn why).
    const proven = await nextTotp('frank');
    await expect(patiently(() => attacker.login('frank', PASSWORD, proven, { kind: 'existing', deviceId: 1 as never }))).rejects.toMatchObject({ code: 'ACCOUNT_LOCKED' });

    const exportDir = `${dataDir}/export-${Date.now()}`;
    expect(adminCli(['audit', 'export', '--data', dataDir, '--from', '2000-01-01', '--to', '2100-01-01', '--out', exportDir]).status).toBe(0);
    const { readFileSync } = await import('node:fs');
    const events = readFileSync(`${exportDir}/events.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; subject: string; flagged: boolean });
    const frankId = /frank\t[^\t]+\t\w+\t\w+[^\t]*\t[^\t]+\t(\S+)/.exec(adminCli(['user', 'list', '--data', dataDir]).stdout)?.[1];
    const forFrank = events.filter((e) => e.subject === frankId);
    expect(forFrank.filter((e) => e.type === 'login.failure').length).toBeGreaterThanOrEqual(10);
    expect(forFrank.filter((e) => e.type === 'login.throttled').length).toBeGreaterThan(0);
    expect(forFrank.filter((e) => e.type === 'account.locked' && e.flagged)).toHaveLength(1);

    // The admin unlocks; the right password and code work again.
    expect(adminCli(['user', 'unlock', 'frank', '--data', dataDir]).status).toBe(0);
    const code = await nextTotp('frank');
    const session = await patiently(() => attacker.login('frank', PASSWORD, code, { kind: 'existing', deviceId: 1 as never }));
    expect(session.deviceId).toBe(1);
  }, 120_000);
});
