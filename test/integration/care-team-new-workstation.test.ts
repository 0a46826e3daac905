import { afterAll, describe, expect, it } from 'vitest';
import { parseJsonBytes } from '../../main/core/crypto/encoding';
import { LocalProfiles } from '../../main/core/storage/LocalProfiles';
import type { ConversationId, UserId } from '../../shared/ids';
import { Ward } from '../fixtures/ward';
import { FAST_KDF, PASSPHRASE, until, type Workstation } from '../fixtures/workstation';

/*
 * A member's new workstation and the sender's own, unknown to her until the relay refuses her send (UNKNOWN_DEVICE):
 * the send is tried again with the directory read afresh, and once she accepts the new devices, with the same
 * sender key, given only to the devices that do not have it: the new workstations, and a new member the refused
 * attempt was to give it to (review of the send path, session 11). What each workstation holds is read from its
 * own encrypted database, through a second connection as another window would open.
 */
const wards: Ward[] = [];
afterAll(async () => {
  for (const ward of wards) await ward.close();
});

/** A workstation's sender-key bookkeeping for `team`: our own distribution's id, and those received from `sender`. */
async function senderKeys(w: Workstation, team: ConversationId, sender: UserId): Promise<{ own: string | undefined; from: string[] }> {
  const profiles = new LocalProfiles(w.dataDir, { kdf: FAST_KDF });
  const profile = await profiles.unlock(profiles.list()[0]!.id, PASSPHRASE);
  try {
    const storage = profile.protocolStorage;
    const own = storage.get('careTeam', `own/${team}`);
    return {
      own: own ? (parseJsonBytes(own) as { distributionId: string }).distributionId : undefined,
      from: storage.keys('careTeam', `from/${sender}.`).map((key) => key.split('/')[2]!),
    };
  } finally {
    profile.lock();
  }
}

describe('a care-team send refused for a device the sender did not know', () => {
  it('keeps the sender key, gives it only to the devices without it, and every device reads the message', async () => {
    const ward = await Ward.open({ alice: 'Dr. Alice Moreau', bob: 'Nurse Bob Okafor', carol: 'Dr. Carol Nguyen', dave: 'Dr. Dave Park' });
    wards.push(ward);
    const [alice, bob, carol, dave] = [ward.station('alice'), ward.station('bob'), ward.station('carol'), ward.station('dave')];
    const { conversationId: team } = await alice.call('careTeams.create', { title: 'Ward 4 bed 12', members: [ward.id('bob'), ward.id('carol')] });
    await alice.call('messages.send', { conversationId: team, text: 'Obs every hour' });
    for (const w of [bob, carol]) await until(async () => (await w.bodies(team)).includes('Obs every hour'), 'the first team message');
    const before = await senderKeys(alice, team, ward.id('alice'));
    expect(before.own).toBeDefined();
    for (const w of [bob, carol]) expect((await senderKeys(w, team, ward.id('alice'))).from).toEqual([before.own]);

    // Dave joins (Alice's next text gives him her key); Bob and Alice add a workstation each, which her directory lacks.
    await alice.call('careTeams.addMembers', { conversationId: team, members: [ward.id('dave')] });
    await until(async () => (await dave.call('conversations.list', {})).some((c) => c.id === team), 'Dave knows the team');
    const [bob2, alice2] = [ward.workstation(), ward.workstation()];
    await bob2.addDevice(ward.relay.url, 'bob');
    await alice2.addDevice(ward.relay.url, 'alice');
    await ward.allOnline();
    const { messageId } = await alice.call('messages.send', { conversationId: team, text: 'Bed 12 to theatre at 2' });
    // Held for Bob's new workstation until she accepts it (her own is her first other one: trusted on first use).
    await until(() => alice.events.some((e) => e.type === 'sendBlocked' && e.messageId === messageId), 'held for Bob\'s new workstation');
    const pending = (await alice.call('contacts.identities', { userId: ward.id('bob') })).filter((i) => i.changePending);
    expect(pending).toHaveLength(1);
    await alice.call('contacts.acknowledgeIdentityChange', { userId: ward.id('bob'), safetyNumbersSeen: pending.map((p) => p.safetyNumber) });
    for (const w of [bob, bob2, carol, dave, alice2]) await until(async () => (await w.bodies(team)).includes('Bed 12 to theatre at 2'), 'the message on every workstation');

    // The same distribution throughout: nobody was given a new key; the newcomers were given the one in use.
    expect((await senderKeys(alice, team, ward.id('alice'))).own).toBe(before.own);
    for (const w of [bob, bob2, carol, dave, alice2]) expect((await senderKeys(w, team, ward.id('alice'))).from).toEqual([before.own]);
    for (const w of [bob2, dave, alice2]) expect(await w.bodies(team)).toEqual(['Bed 12 to theatre at 2']);
    for (const w of [bob, carol]) expect(await w.bodies(team)).toEqual(['Obs every hour', 'Bed 12 to theatre at 2']);
  }, 120_000);
});
