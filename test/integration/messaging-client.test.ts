import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentTotp } from '../../server/auth/totp';
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

  beforeAll(async () => {
    relayDir = tempDataDir();
    workstation = tempDataDir();
    relay = await RelayProcess.start(relayDir);
    profiles = new LocalProfiles(workstation, { kdf: FAST_KDF });
  });

  afterAll(async () => {
    await relay.stop();
    removeDir(relayDir);
    removeDir(workstation);
  });

  const aliceTime = virtualScheduler(Date.now());

  async function enroll(username: string, displayName: string): Promise<{ client: MessagingClient; profile: UnlockedProfile; events: ClientEvent[] }> {
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

  it('exchanges messages, keeps them across a lock and restart, and delivers the offline queue', async () => {
    const alice = await enroll('alice', 'Dr. Alice Moreau');
    const bob = await enroll('bob', 'Nurse Bob Okafor');
    await until(() => alice.client.online && bob.client.online, 'both online');
    const conversation = directConversationId(alice.client.address.userId, bob.client.address.userId);

    const firstId = await alice.client.sendText(bob.client.address.userId, 'Bed 12: potassium 5.9, repeat in 2h');
    await until(() => bob.client.messages.page(conversation, 10).length === 1, 'first message');
    // Bob's client tells Alice's it has the message (delivered); nobody has read it yet.
    await until(() => alice.client.messages.receipts(firstId).delivered.includes(bob.client.address.userId), 'delivered receipt');
    expect(alice.client.messages.receipts(firstId).read).toEqual([]);
    const onItId = await bob.client.sendText(alice.client.address.userId, 'On it', { urgent: true });
    await until(() => alice.client.messages.page(conversation, 10).length === 2, 'reply');
    // The urgent reply is re-notified every 2 minutes (virtual time) until Alice reads it; ids only.
    expect(alice.events.filter((e) => e.type === 'message').map((e) => (e as { urgent: boolean }).urgent)).toEqual([true]);
    aliceTime.advance(2 * 60_000 + 20_000);
    expect(alice.events.filter((e) => e.type === 'urgentReminder')).toEqual([{ type: 'urgentReminder', conversationId: conversation, messageId: expect.any(String), reminder: 1 }]);
    expect(alice.client.markRead(conversation)).toEqual([onItId]);
    aliceTime.advance(30 * 60_000);
    expect(alice.events.filter((e) => e.type === 'urgentReminder')).toHaveLength(1);
    // ...and Bob sees that Alice has read it.
    await until(() => bob.client.messages.receipts(onItId).read.includes(alice.client.address.userId), 'read receipt');
    expect(bob.events.some((e) => e.type === 'receipt' && e.kind === 'read')).toBe(true);
    expect(alice.client.messages.page(conversation, 10).map((m) => m.body)).toEqual(['On it', 'Bed 12: potassium 5.9, repeat in 2h']);
    expect(bob.events.some((e) => e.type === 'message')).toBe(true);

    // Bob locks his workstation; Alice writes five more; Bob unlocks (a new client, as after a restart).
    await bob.client.stop();
    bob.profile.lock();
    for (let i = 0; i < 5; i++) {
      aliceTime.advance(1000); // Alice's (virtual) clock moves on between messages, as a real one does
      await alice.client.sendText(bob.client.address.userId, `while you were away ${i}`);
    }
    await until(() => alice.client.pendingCount() === 0, 'outbox flushed');
    const reopened = await profiles.unlock(bob.profile.id, PASSPHRASE);
    const bobAgain = MessagingClient.open(reopened, relay.url, { backoff: { firstMs: 100, maxMs: 1000 } });
    bobAgain.start();
    await until(() => bobAgain.messages.page(conversation, 50).length === 7, 'offline queue');
    expect(bobAgain.messages.page(conversation, 50).map((m) => m.body).slice(0, 5).reverse()).toEqual(Array.from({ length: 5 }, (_, i) => `while you were away ${i}`));
    expect(bobAgain.messages.search('potassium').map((m) => m.body)).toEqual(['Bed 12: potassium 5.9, repeat in 2h']);

    // The relay goes down: Alice's message waits in her outbox and goes out when it is back.
    const port = relay.port;
    await relay.kill();
    await until(() => !alice.client.online, 'offline');
    await alice.client.sendText(bobAgain.address.userId, 'typed while the relay was down');
    expect(alice.client.pendingCount()).toBe(1);
    relay = await RelayProcess.start(relayDir, [], port);
    await until(() => alice.client.pendingCount() === 0, 'outbox after reconnect');
    await until(() => bobAgain.messages.search('typed relay down').length === 1, 'delivery after reconnect');
    expect(alice.events.filter((e) => e.type === 'connection').map((e) => (e as { state: string }).state)).toContain('offline');

    for (const c of [alice.client, bobAgain]) await c.stop();
    alice.profile.lock();
    reopened.lock();
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
