import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentTotp } from '../../server/auth/totp';
import type { ConversationId } from '../../shared/ids';
import { directConversationId } from '../../main/core/messaging/directConversation';
import { MessagingClient, type ClientEvent } from '../../main/core/messaging/MessagingClient';
import { LocalProfiles, type UnlockedProfile } from '../../main/core/storage/LocalProfiles';
import { RelayProcess, addUser, removeDir, tempDataDir } from '../fixtures/relayProcess';
import { virtualScheduler } from '../fixtures/virtualScheduler';
import { FAST_KDF, PASSPHRASE, PASSWORD, until } from '../fixtures/workstation';

describe('messaging client over encrypted profiles and a real relay', () => {
  let relayDir: string;
  let workstation: string;
  let relay: RelayProcess;
  let profiles: LocalProfiles;
  /** Alice's client runs in virtual time (urgent reminders, reconnect back-off); Bob's in real time. */
  const aliceTime = virtualScheduler(Date.now());
  let alice: Enrolled;
  let bob: Enrolled;
  let conversation: ConversationId;

  interface Enrolled { client: MessagingClient; profile: UnlockedProfile; events: ClientEvent[] }

  async function enroll(username: string, displayName: string): Promise<Enrolled> {
    const code = addUser(relayDir, username, displayName);
    const profile = await profiles.create({ username, displayName, relayUrl: relay.url }, PASSPHRASE);
    const events: ClientEvent[] = [];
    const client = await MessagingClient.enroll(profile, relay.url, {
      username, enrollmentCode: code, password: PASSWORD, deviceName: 'Ward 4 workstation',
      authenticator: async ({ uri, secret }) => {
        expect(uri).toMatch(/^otpauth:\/\/totp\//);
        return currentTotp(secret, Date.now());
      },
    }, { onEvent: (e) => events.push(e), backoff: { firstMs: 100, maxMs: 1000 }, ...(username === 'alice' ? { scheduler: aliceTime } : {}) });
    client.start();
    return { client, profile, events };
  }

  /** Waits for `condition` while Alice's virtual clock moves on (her reconnect timers run on it). */
  const untilAliceRetries = (condition: () => boolean, what: string) => until(() => {
    aliceTime.advance(1000);
    return condition();
  }, what);

  beforeAll(async () => {
    relayDir = tempDataDir();
    workstation = tempDataDir();
    relay = await RelayProcess.start(relayDir);
    profiles = new LocalProfiles(workstation, { kdf: FAST_KDF });
    alice = await enroll('alice', 'Dr. Alice Moreau');
    bob = await enroll('bob', 'Nurse Bob Okafor');
    await until(() => alice.client.online && bob.client.online, 'both online');
    conversation = directConversationId(alice.client.address.userId, bob.client.address.userId);
  });

  afterAll(async () => {
    for (const c of [alice.client, bob.client]) await c.stop();
    for (const p of [alice.profile, bob.profile]) p.lock();
    await relay.stop();
    removeDir(relayDir);
    removeDir(workstation);
  });

  it('delivers a 1:1 message and tells the sender it was delivered, not yet read', async () => {
    const id = await alice.client.sendText(bob.client.address.userId, 'Bed 12: potassium 5.9, repeat in 2h');
    await until(() => bob.client.messages.page(conversation, 10).some((m) => m.id === id), 'the message at Bob');
    expect(bob.events.some((e) => e.type === 'message' && e.messageId === id)).toBe(true);
    await until(() => alice.client.messages.receipts(id).delivered.includes(bob.client.address.userId), 'delivered receipt');
    expect(alice.client.messages.receipts(id).read).toEqual([]);
  });

  // Issue 19: reading an urgent message no longer stops its reminders; acknowledging it does.
  it('reminds of an urgent message on the policy interval until it is acknowledged, and tells the sender it was read and acknowledged', async () => {
    const id = await bob.client.sendText(alice.client.address.userId, 'On it', { urgent: true });
    await until(() => alice.client.messages.page(conversation, 10).some((m) => m.id === id), 'the reply at Alice');
    expect(alice.events.filter((e) => e.type === 'message').map((e) => (e as { urgent: boolean }).urgent)).toEqual([true]);
    // Re-notified every 2 minutes (virtual time) until Alice acknowledges it; the events carry ids only.
    aliceTime.advance(2 * 60_000 + 20_000);
    expect(alice.events.filter((e) => e.type === 'urgentReminder')).toEqual([{ type: 'urgentReminder', conversationId: conversation, messageId: id, reminder: 1 }]);
    expect(alice.client.markRead(conversation)).toEqual([id]);
    aliceTime.advance(2 * 60_000);
    expect(alice.events.filter((e) => e.type === 'urgentReminder')).toHaveLength(2);
    alice.client.acknowledge(id);
    aliceTime.advance(30 * 60_000);
    expect(alice.events.filter((e) => e.type === 'urgentReminder')).toHaveLength(2);
    // Bob holds Alice's acknowledgement, its signature verified with her workstation's identity key.
    await until(() => bob.client.urgent.store.acknowledgements(id).length === 1, 'acknowledgement at Bob');
    expect(bob.client.urgent.store.acknowledgements(id)[0]?.statement.acknowledger).toEqual(alice.client.address);
    await until(() => bob.client.messages.receipts(id).read.includes(alice.client.address.userId), 'read receipt');
    expect(bob.events.some((e) => e.type === 'receipt' && e.kind === 'read')).toBe(true);
    expect(alice.client.messages.page(conversation, 10).map((m) => m.body)).toEqual(['On it', 'Bed 12: potassium 5.9, repeat in 2h']);
  });

  it('keeps messages across a lock and a restart, and delivers what was queued while locked', async () => {
    await bob.client.stop();
    bob.profile.lock();
    for (let i = 0; i < 5; i++) {
      aliceTime.advance(1000); // Alice's (virtual) clock moves on between messages, as a real one does
      await alice.client.sendText(bob.client.address.userId, `while you were away ${i}`);
    }
    await until(() => alice.client.pendingCount() === 0, 'outbox flushed');
    // Bob unlocks: a new client, as after a restart.
    const profile = await profiles.unlock(bob.profile.id, PASSPHRASE);
    const client = MessagingClient.open(profile, relay.url, { backoff: { firstMs: 100, maxMs: 1000 } });
    bob = { client, profile, events: [] };
    client.start();
    await until(() => client.messages.page(conversation, 50).length === 7, 'offline queue');
    expect(client.messages.page(conversation, 50).map((m) => m.body).slice(0, 5).reverse()).toEqual(Array.from({ length: 5 }, (_, i) => `while you were away ${i}`));
    expect(client.messages.search('potassium').map((m) => m.body)).toEqual(['Bed 12: potassium 5.9, repeat in 2h']);
  });

  it('keeps what is typed while the relay is down, and sends it once reconnected after back-off', async () => {
    const port = relay.port;
    await relay.kill();
    await until(() => !alice.client.online, 'offline');
    await alice.client.sendText(bob.client.address.userId, 'typed while the relay was down');
    expect(alice.client.pendingCount()).toBe(1);
    relay = await RelayProcess.start(relayDir, [], port);
    // Alice's reconnect waits on her (virtual) clock: nothing happens until it moves on.
    await untilAliceRetries(() => alice.client.pendingCount() === 0, 'outbox after reconnect');
    await until(() => bob.client.messages.search('typed relay down').length === 1, 'delivery after reconnect');
    expect(alice.events.filter((e) => e.type === 'connection').map((e) => (e as { state: string }).state)).toEqual(expect.arrayContaining(['offline', 'connecting', 'online']));
  });
});

describe('a client killed with -9 while messages arrive', () => {
  it('gets every message, each stored once, when it starts again', async () => {
    const relayDir = tempDataDir();
    const workstation = tempDataDir();
    const relay = await RelayProcess.start(relayDir);
    const profiles = new LocalProfiles(workstation, { kdf: FAST_KDF });
    try {
      const enrolled: Record<string, { client: MessagingClient; profile: UnlockedProfile }> = {};
      for (const name of ['alice', 'bob']) {
        const code = addUser(relayDir, name, name.toUpperCase());
        const profile = await profiles.create({ username: name, displayName: name.toUpperCase(), relayUrl: relay.url }, PASSPHRASE);
        const client = await MessagingClient.enroll(profile, relay.url, { username: name, enrollmentCode: code, password: PASSWORD, deviceName: 'ws', authenticator: async ({ secret }) => currentTotp(secret, Date.now()) });
        enrolled[name] = { client, profile };
      }
      const { client: alice } = enrolled.alice!;
      const bob = enrolled.bob!;
      const bobId = bob.client.address.userId;
      await bob.client.stop();
      bob.profile.lock();
      alice.start();

      const spawnBob = () => spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/clientProcess.ts', workstation, bob.profile.id, PASSPHRASE, relay.url], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
      const watch = (child: ChildProcess, line: RegExp) => new Promise<void>((resolve) => {
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (line.test(out)) resolve();
        });
      });
      let child = spawnBob();
      await watch(child, /online/);
      const sending = (async () => {
        for (let i = 0; i < 200; i++) await alice.sendText(bobId, `message ${i}`);
      })();
      await watch(child, /stored 40\n/);
      child.kill('SIGKILL'); // mid-stream: some message is stored but not yet acknowledged
      await new Promise((resolve) => child.once('exit', resolve));
      await sending;
      await until(() => alice.pendingCount() === 0, 'all sent');

      // Started again, it receives the rest (and, again, what it had stored but not acknowledged).
      child = spawnBob();
      let total = 0;
      child.stdout!.on('data', (chunk: Buffer) => {
        for (const match of chunk.toString().matchAll(/stored (\d+)/g)) total = Number(match[1]);
      });
      await until(() => total >= 1, 'restarted client receiving');
      // Wait until its count stops moving for a second: the queue is drained.
      for (let last = -1; last !== total; ) {
        last = total;
        await new Promise((r) => setTimeout(r, 1000));
      }
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      const profile = await profiles.unlock(bob.profile.id, PASSPHRASE);
      const rows = profile.database.all<{ body: string; n: number }>('SELECT body, count(*) AS n FROM messages GROUP BY body');
      expect(rows).toHaveLength(200);
      expect(rows.every((r) => r.n === 1)).toBe(true);
      profile.lock();
      await alice.stop();
    } finally {
      await relay.stop();
      removeDir(relayDir);
      removeDir(workstation);
    }
  });
});
