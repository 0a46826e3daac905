import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UiEvent } from '../../shared/contract';
import { olderRelay, type OlderRelay } from '../fixtures/olderRelay';
import { Ward } from '../fixtures/ward';
import { until, type Workstation } from '../fixtures/workstation';

/*
 * A clinician's own workstations: each has its own identity key, so one she signs in later is a change she
 * reviews and accepts, as a colleague's new workstation is (otherwise whoever runs the relay could add one to her
 * account and read the copies of what she sends). Her first workstation learns of a third from the relay at its
 * next send, holds that send until she accepts, and then sends it to everyone, the new workstation included.
 */
describe("a clinician's own workstations", () => {
  let ward: Ward;
  let alice: Workstation;
  let bob: Workstation;
  let laptop: Workstation;

  beforeAll(async () => {
    ward = await Ward.open({ alice: 'Dr. Alice Moreau', bob: 'Dr. Bob Lee' });
    ({ alice, bob } = ward.stations as Record<'alice' | 'bob', Workstation>);
    laptop = ward.workstation();
    await laptop.addDevice(ward.relay.url, 'alice');
    await ward.allOnline();
  }, 90_000);

  afterAll(async () => {
    await ward?.close();
  });

  it('holds a send once a third workstation appears, until she accepts it, then sends it to all of them', async () => {
    const { conversationId } = await alice.call('conversations.openDirect', { userId: ward.id('bob') });
    await alice.call('messages.send', { conversationId, text: 'Bed 4 obs stable' });
    await until(async () => (await laptop.bodies(conversationId)).includes('Bed 4 obs stable'), 'the copy on her laptop');

    const ipad = ward.workstation();
    await ipad.addDevice(ward.relay.url, 'alice');
    await ward.allOnline();
    const from = alice.events.length;
    const { messageId } = await alice.call('messages.send', { conversationId, text: 'Bed 4 for discharge' });
    const blocked = (e: UiEvent) => e.type === 'sendBlocked' && e.messageId === messageId && e.reason === 'IDENTITY_CHANGED' && e.userId === ward.id('alice');
    await until(() => alice.events.slice(from).some(blocked), 'the send held for her own new workstation');
    expect(await bob.bodies(conversationId)).not.toContain('Bed 4 for discharge');
    const own = await alice.call('contacts.identities', { userId: ward.id('alice') });
    const pending = own.filter((i) => i.changePending !== null);
    expect(pending.map((i) => i.address.deviceId)).toHaveLength(1);

    await alice.call('contacts.acknowledgeIdentityChange', { userId: ward.id('alice'), safetyNumbersSeen: pending.map((i) => i.safetyNumber) });
    for (const [who, w] of [['Bob', bob], ['the laptop', laptop], ['the new workstation', ipad]] as const) {
      await until(async () => (await w.bodies(conversationId)).includes('Bed 4 for discharge'), `the message at ${who}`);
    }
  });
});

describe('a message with nobody else to go to', () => {
  let ward: Ward;
  let alice: Workstation;
  let bob: Workstation;

  beforeAll(async () => {
    ward = await Ward.open({ alice: 'Dr. Alice Moreau', bob: 'Dr. Bob Lee' });
    ({ alice, bob } = ward.stations as Record<'alice' | 'bob', Workstation>);
  }, 90_000);

  afterAll(async () => {
    await ward?.close();
  });

  it('still asks the relay about her own workstations, and reaches one her directory did not list', async () => {
    // A care team she alone is left in, on her only workstation that she knows of: the message has no envelope.
    const { conversationId: team } = await alice.call('careTeams.create', { title: 'Bay 2 night', members: [ward.id('bob')] });
    await alice.call('careTeams.removeMember', { conversationId: team, userId: ward.id('bob') });
    await until(async () => (await bob.call('conversations.list', {})).find((c) => c.id === team)?.isMember === false, 'Bob out of the team');
    const desk = ward.workstation();
    await desk.addDevice(ward.relay.url, 'alice');
    await ward.allOnline();
    const { messageId } = await alice.call('messages.send', { conversationId: team, text: 'Bay 2 handover done' });
    // The relay names the workstation her directory did not list yet, and it gets the team and the message.
    await until(async () => (await desk.bodies(team)).includes('Bay 2 handover done'), 'the team message on the new desk');
    expect((await alice.call('messages.page', { conversationId: team, limit: 1 }))[0]).toMatchObject({ id: messageId, outgoing: true });
    expect(await bob.bodies(team)).not.toContain('Bay 2 handover done');
  });
});

describe('a message with nobody else to go to, through a relay from before sends of no envelope', () => {
  let ward: Ward;
  let relay: OlderRelay;
  let alice: Workstation;
  let bob: Workstation;
  const warnings: string[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    // Hospitals upgrade the relay first; here the workstation was updated first, and reaches the relay as it was.
    ward = await Ward.open({ bob: 'Dr. Bob Lee' }, { accountsOnly: { alice: 'Dr. Alice Moreau' } });
    bob = ward.station('bob');
    relay = await olderRelay(ward.relay.url);
    alice = ward.workstation({ logger: { error: (m) => void errors.push(m), warn: (m) => void warnings.push(m) } });
    await alice.enroll(relay.url, 'alice', ward.codes.alice!);
    ward.ids.alice = (await bob.call('directory.list', {})).find((c) => c.username === 'alice')!.userId;
    await ward.allOnline();
  }, 90_000);

  afterAll(async () => {
    await ward?.close();
    await relay?.close();
  });

  it('is refused there, counts as sent to no one, and does not hold up what she sends after it', async () => {
    const { conversationId: team } = await alice.call('careTeams.create', { title: 'Bay 2 night', members: [ward.id('bob')] });
    await alice.call('careTeams.removeMember', { conversationId: team, userId: ward.id('bob') });
    await until(async () => (await bob.call('conversations.list', {})).find((c) => c.id === team)?.isMember === false, 'Bob out of the team');
    // Alone in the team on her only workstation: the message has no envelope, and that relay refuses the send.
    const { messageId } = await alice.call('messages.send', { conversationId: team, text: 'Bay 2 handover done' });
    await until(async () => (await alice.call('messages.page', { conversationId: team, limit: 1 }))[0]?.state === 'sent', 'the message out of the outbox');
    // Refused once, and once more after she read the directory afresh (it lists no other workstation of hers).
    expect(relay.refused.socket + relay.refused.http).toBe(2);
    expect((await alice.call('messages.page', { conversationId: team, limit: 1 }))[0]).toMatchObject({ id: messageId, outgoing: true, state: 'sent' });
    // What she writes next goes, and is not asked again behind it.
    const { conversationId: direct } = await alice.call('conversations.openDirect', { userId: ward.id('bob') });
    await alice.call('messages.send', { conversationId: direct, text: 'Bed 7 obs due at 4' });
    await until(async () => (await bob.bodies(direct)).includes('Bed 7 obs due at 4'), 'the next message at Bob');
    expect(relay.refused.socket + relay.refused.http).toBe(2);
    // IT hears why, without the message, its team or anyone's name; nothing failed.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/BAD_REQUEST.*older than this workstation/);
    expect(warnings[0]).not.toMatch(/Bay 2|Alice|Moreau|alice/);
    expect(warnings[0]).not.toContain(team);
    expect(errors).toEqual([]);
  });
});
