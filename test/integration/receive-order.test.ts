import { afterAll, describe, expect, it } from 'vitest';
import { LocalProfiles, type UnlockedProfile } from '../../main/core/storage/LocalProfiles';
import { MessageStore } from '../../main/core/storage/MessageStore';
import { OutboxStore } from '../../main/core/storage/OutboxStore';
import { UrgentReminders } from '../../main/core/messaging/UrgentReminders';
import { pngWithText } from '../fixtures/attachmentFiles';
import { openRelayDatabase } from '../fixtures/relayProcess';
import { Ward } from '../fixtures/ward';
import type { ConversationId, UserId } from '../../shared/ids';
import { FAST_KDF, PASSPHRASE, stageFile, until, type Workstation } from '../fixtures/workstation';

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

/** A ward of two, the recipient first: what the recipient logs as errors is kept in `failures`. */
async function loggedPair(people: Record<string, string>): Promise<{ ward: Ward; to: Workstation; from: Workstation; failures: string[] }> {
  const failures: string[] = [];
  const [to, from] = Object.keys(people) as [string, string];
  const ward = await Ward.open(people, { station: (username) => (username === to ? { logger: { error: (m) => void failures.push(m) } } : {}) });
  wards.push(ward);
  return { ward, to: ward.station(to), from: ward.station(from), failures };
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

  it('its delivered receipt cannot be queued (a busy database): it is tried again, receipted, announced, and the next still comes', async () => {
    const { ward, to: carol, from: dave, failures } = await loggedPair({ carol: 'Dr. Carol Nguyen', dave: 'Dr. Dave Park' });
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
      // The receipt is queued with the message: the store failed whole, and was tried again.
      expect(failures.filter((m) => m.startsWith('a message could not be stored'))).toHaveLength(1);
      expect(failures.filter((m) => m.startsWith('after a message was stored'))).toEqual([]);
    } finally {
      OutboxStore.prototype.add = original;
    }
    // Each announced once (the list and the OS notification), and each delivered-receipted to Dave.
    const atCarol = await carol.call('messages.page', { conversationId: (await carol.call('conversations.list', {}))[0]!.id, limit: 10 });
    expect(carol.events.flatMap((e) => (e.type === 'message' ? [e.messageId] : [])).sort()).toEqual(atCarol.map((m) => m.id).sort());
    const atDave = (await dave.call('conversations.list', {}))[0]!.id;
    await until(async () => (await dave.call('messages.page', { conversationId: atDave, limit: 10 })).every((m) => m.state === 'delivered'), 'both delivered at Dave');
  }, 90_000);

  it('stored and acknowledged, then a failure after (its urgent reminder): it is still announced, its attachment fetched, its receipt sent, and the next still comes', async () => {
    const { ward, to: gina, from: hugo, failures } = await loggedPair({ gina: 'Dr. Gina Rossi', hugo: 'Nurse Hugo Brandt' });
    const { conversationId } = await hugo.call('conversations.openDirect', { userId: ward.id('gina') });
    // Only Gina receives an urgent message here: the first reminder she would start fails.
    const original = UrgentReminders.prototype.track;
    let failing = true;
    UrgentReminders.prototype.track = function (this: UrgentReminders, ...args: Parameters<UrgentReminders['track']>) {
      if (failing) {
        failing = false;
        throw Object.assign(new Error('reminders unavailable'), { code: 'INTERNAL' });
      }
      return original.apply(this, args);
    };
    try {
      const staged = await stageFile(hugo, pngWithText('obs'), 'obs.png');
      const { messageId } = await hugo.call('messages.send', { conversationId, text: 'Bed 7 NEWS 7', urgent: true, urgentReason: 'Deteriorating patient', attachments: [staged.stagingId] });
      await hugo.call('messages.send', { conversationId, text: 'Bed 8 obs due' });
      await until(async () => (await gina.call('conversations.list', {})).length === 1, 'the conversation at Gina');
      const id = (await gina.call('conversations.list', {}))[0]!.id;
      await until(async () => (await gina.bodies(id)).length === 2, 'both messages at Gina');
      expect(await gina.bodies(id)).toEqual(['Bed 7 NEWS 7', 'Bed 8 obs due']);
      expect(failing).toBe(false);
      expect(failures.filter((m) => m.startsWith('after a message was stored, the urgent reminder failed: [INTERNAL]'))).toHaveLength(1);
      expect(failures.some((m) => m.includes('Bed 7') || m.includes('NEWS'))).toBe(false);
      expect(gina.events.some((e) => e.type === 'message' && e.messageId === messageId && e.urgent)).toBe(true);
      await until(async () => (await gina.call('messages.page', { conversationId: id, limit: 10 })).find((m) => m.id === messageId)?.attachments.every((a) => a.state === 'stored') === true, 'its attachment fetched');
      await until(async () => (await hugo.call('messages.page', { conversationId, limit: 10 })).every((m) => m.state === 'delivered'), 'both delivered at Hugo');
    } finally {
      UrgentReminders.prototype.track = original;
    }
  }, 90_000);

  it('is not one SQLite refuses for what it holds (an id it chose, taken): that one is refused like garbage, the next still comes; a local constraint is tried again', async () => {
    const ward = await Ward.open({ erin: 'Nurse Erin Walsh', frank: 'Dr. Frank Osei' });
    wards.push(ward);
    const erin = ward.station('erin');
    const frank = ward.station('frank');
    const original = MessageStore.prototype.insert;
    let refusals = 0;
    let localFaults = 0;
    MessageStore.prototype.insert = function (this: MessageStore, ...args: Parameters<MessageStore['insert']>) {
      if (args[0].body === 'Bed 5 obs due' && args[0].receivedAt !== args[0].sentAt) {
        refusals++;
        throw Object.assign(new Error('UNIQUE constraint failed: messages.id'), { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
      }
      // A constraint no envelope can break (a foreign key of this workstation's own tables): its fault, once.
      if (args[0].body === 'Bed 7 obs due' && args[0].receivedAt !== args[0].sentAt && localFaults === 0) {
        localFaults++;
        throw Object.assign(new Error('FOREIGN KEY constraint failed'), { code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
      }
      return original.apply(this, args);
    };
    try {
      const id = await sendDirect(frank, erin, ward.id('erin'), ['Bed 5 obs due', 'Bed 6 obs due']);
      await until(async () => (await erin.bodies(id)).includes('Bed 6 obs due'), 'the next message at Erin');
      expect(await erin.bodies(id)).toEqual(['Bed 6 obs due']);
      expect(refusals).toBe(1);
      // Not dropped: tried again, and kept.
      await frank.call('messages.send', { conversationId: (await frank.call('conversations.list', {}))[0]!.id, text: 'Bed 7 obs due' });
      await until(async () => (await erin.bodies(id)).includes('Bed 7 obs due'), 'the message hit by a local constraint, at Erin');
      expect(localFaults).toBe(1);
      expect(await erin.bodies(id)).toEqual(['Bed 6 obs due', 'Bed 7 obs due']);
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
