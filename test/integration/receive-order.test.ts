import { afterAll, describe, expect, it } from 'vitest';
import { LocalProfiles, type UnlockedProfile } from '../../main/core/storage/LocalProfiles';
import { MessageStore } from '../../main/core/storage/MessageStore';
import { OutboxStore } from '../../main/core/storage/OutboxStore';
import { openRelayDatabase } from '../fixtures/relayProcess';
import { Ward } from '../fixtures/ward';
import type { ConversationId, UserId } from '../../shared/ids';
import { FAST_KDF, PASSPHRASE, until, type Workstation } from '../fixtures/workstation';

/*
 * Envelopes are taken in the order the relay gave them, even when one of them cannot be stored for a while
 * (review of the receive path, session 11). In the first test the failure is a real one: another connection to
 * the profile's database (as a second Rounds window would have) holds its write lock, so SQLCipher answers
 * SQLITE_BUSY. The others need a failure at one exact write, made as receive-durability.test.ts makes a full disk.
 */
const wards: Ward[] = [];
afterAll(async () => {
  for (const ward of wards) await ward.close();
});

/** `from` sends `texts` 1:1 to `to`; the conversation's id at `to`, once it is there. */
async function sendDirect(from: Workstation, to: Workstation, toId: UserId, texts: readonly string[]): Promise<ConversationId> {
  const { conversationId } = await from.call('conversations.openDirect', { userId: toId });
  for (const text of texts) await from.call('messages.send', { conversationId, text });
  await until(async () => (await to.call('conversations.list', {})).length === 1, 'the conversation at the recipient');
  return (await to.call('conversations.list', {}))[0]!.id;
}

describe('an envelope this workstation cannot store for a while', () => {
  it('is tried again before anything after it: a sender key hit by a busy database still opens the team message behind it', async () => {
    // Bob's new workstation: its database is held by another connection from the moment it learns the team
    // (the team's state comes just ahead of Alice's sender key) until the core reports the failed store.
    const holder: { profile?: UnlockedProfile } = {};
    let held = false;
    const failures: string[] = [];
    const logger = {
      error: (message: string) => {
        if (!message.startsWith('a message could not be stored')) return;
        failures.push(message);
        if (held) holder.profile?.database.run('ROLLBACK');
        held = false;
      },
    };
    const ward = await Ward.open({ alice: 'Dr. Alice Moreau', bob: 'Nurse Bob Okafor' });
    wards.push(ward);
    const alice = ward.station('alice');
    const bob = ward.station('bob');
    const { conversationId: team } = await alice.call('careTeams.create', { title: 'Ward 4 bed 12', members: [ward.id('bob')] });
    await alice.call('messages.send', { conversationId: team, text: 'Obs every hour' });
    await until(async () => (await bob.bodies(team)).includes('Obs every hour'), 'the first team message at Bob');

    const bob2 = ward.workstation({ logger });
    await bob2.addDevice(ward.relay.url, 'bob');
    await until(() => bob2.online(), 'Bob\'s second workstation online');
    const profiles = new LocalProfiles(bob2.dataDir, { kdf: FAST_KDF });
    holder.profile = await profiles.unlock(profiles.list()[0]!.id, PASSPHRASE);
    bob2.app.subscribe((event) => {
      if (event.type !== 'conversation' || event.conversationId !== team || held || failures.length > 0) return;
      holder.profile?.database.run('BEGIN IMMEDIATE');
      held = true;
    });

    const { messageId } = await alice.call('messages.send', { conversationId: team, text: 'Bed 12 to theatre at 2' });
    await until(() => alice.events.some((e) => e.type === 'sendBlocked' && e.messageId === messageId), 'held for Bob\'s new workstation');
    const pending = (await alice.call('contacts.identities', { userId: ward.id('bob') })).filter((i) => i.changePending);
    await alice.call('contacts.acknowledgeIdentityChange', { userId: ward.id('bob'), safetyNumbersSeen: pending.map((p) => p.safetyNumber) });

    await until(async () => (await bob2.bodies(team)).includes('Bed 12 to theatre at 2'), 'the team message on Bob\'s new workstation');
    expect(failures).toHaveLength(1);
    expect(failures[0]).toContain('SQLITE_BUSY');
    await until(async () => (await bob.bodies(team)).includes('Bed 12 to theatre at 2'), 'and on his first');
    // Each once, in order.
    await new Promise((r) => setTimeout(r, 500));
    expect(await bob2.bodies(team)).toEqual(['Bed 12 to theatre at 2']);
    expect(await bob.bodies(team)).toEqual(['Obs every hour', 'Bed 12 to theatre at 2']);
    holder.profile.lock();
  }, 90_000);

  it('stored and acknowledged, then a failure (its receipt cannot be queued): the envelopes behind it still come', async () => {
    const failures: string[] = [];
    const ward = await Ward.open({ carol: 'Dr. Carol Nguyen', dave: 'Dr. Dave Park' }, { station: (username) => (username === 'carol' ? { logger: { error: (m) => void failures.push(m) } } : {}) });
    wards.push(ward);
    const carol = ward.station('carol');
    const dave = ward.station('dave');
    // The first delivered receipt Carol queues meets a busy database (both workstations run in this process: only she sends receipts here).
    const original = OutboxStore.prototype.add;
    let busy = true;
    OutboxStore.prototype.add = function (this: OutboxStore, ...args: Parameters<OutboxStore['add']>) {
      if (busy && args[2].type === 'receipt') {
        busy = false;
        throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      }
      return original.apply(this, args);
    };
    try {
      const id = await sendDirect(dave, carol, ward.id('carol'), ['Bed 3 obs due', 'Bed 4 obs due']);
      await until(async () => (await carol.bodies(id)).length === 2, 'both messages at Carol');
      expect(await carol.bodies(id)).toEqual(['Bed 3 obs due', 'Bed 4 obs due']);
      expect(busy).toBe(false);
      expect(failures.filter((m) => m.startsWith('after a message was stored'))).toHaveLength(1);
    } finally {
      OutboxStore.prototype.add = original;
    }
  }, 90_000);

  it('is not one SQLite refuses for what it holds (a constraint it breaks): that one is refused like garbage, and the next still comes', async () => {
    const ward = await Ward.open({ erin: 'Nurse Erin Walsh', frank: 'Dr. Frank Osei' });
    wards.push(ward);
    const erin = ward.station('erin');
    const frank = ward.station('frank');
    const original = MessageStore.prototype.insert;
    let refusals = 0;
    MessageStore.prototype.insert = function (this: MessageStore, ...args: Parameters<MessageStore['insert']>) {
      if (args[0].body === 'Bed 5 obs due' && args[0].receivedAt !== args[0].sentAt) {
        refusals++;
        throw Object.assign(new Error('UNIQUE constraint failed: messages.id'), { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
      }
      return original.apply(this, args);
    };
    try {
      const id = await sendDirect(frank, erin, ward.id('erin'), ['Bed 5 obs due', 'Bed 6 obs due']);
      await until(async () => (await erin.bodies(id)).includes('Bed 6 obs due'), 'the next message at Erin');
      expect(await erin.bodies(id)).toEqual(['Bed 6 obs due']);
      expect(refusals).toBe(1);
    } finally {
      MessageStore.prototype.insert = original;
    }
    // Acknowledged, both: nothing waits at the relay for her workstation.
    const relay = openRelayDatabase(ward.relayDir);
    try {
      await until(() => (relay.prepare('SELECT count(*) AS n FROM envelopes').get() as { n: number }).n === 0, 'nothing left at the relay');
    } finally {
      relay.close();
    }
  }, 90_000);
});
