import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import { NoSenderKeyError } from '../../main/core/errors';
import { DEFAULT_CONFIG } from '../../server/RelayConfig';
import type { RelayServer } from '../../server/RelayServer';
import type { ConversationId, DeviceAddress, EnvelopeId } from '../../shared/ids';
import { VirtualWard, conversationBodies, delays, distributionsFrom, ownDistribution, type Enrolled } from '../fixtures/virtualWard';
import { until } from '../fixtures/workstation';

/*
 * A care team's sender key while some of its readers wait for room in their relay queue (the key is kept for them:
 * a full queue is no change of who is in the team), and while the workstations of its members change: a workstation
 * revoked meanwhile (or an account deactivated), of a reader who waits or of our own account, reads nothing written
 * after its revocation, and a member's first workstation, enrolled after the sender last read the directory, reads
 * from then on.
 * The relay runs in process on the same virtual clock as the clients; a queue holds three envelopes.
 */
describe("a care team's key while readers wait and workstations change", () => {
  let ward: VirtualWard;
  let relay: RelayServer;

  beforeEach(async () => {
    ward = new VirtualWard();
    relay = await ward.startRelay({ delivery: { ...DEFAULT_CONFIG.delivery, maxQueuedEnvelopes: 3, senderSharePercent: 100 } });
  });

  afterEach(async () => {
    await ward.close();
  });

  /** The envelopes the relay stores while `during` runs (as an attacker holding a revoked workstation could fetch them). */
  async function stored(during: () => Promise<void>): Promise<{ id: EnvelopeId; type: string; content: string; recipient: DeviceAddress }[]> {
    const captured: { id: EnvelopeId; type: string; content: string; recipient: DeviceAddress }[] = [];
    const enqueue = relay.store.enqueue;
    relay.store.enqueue = async function (this: typeof relay.store, ...args: Parameters<typeof enqueue>) {
      for (const e of args[0]) captured.push({ id: e.id, type: e.type, content: e.content, recipient: e.recipient });
      return enqueue.apply(this, args);
    };
    try {
      await during();
    } finally {
      relay.store.enqueue = enqueue;
    }
    return captured;
  }

  /** What `device`'s stored protocol state makes of a team ciphertext sent to someone else (a stolen laptop's attempt). */
  function readWith(device: Enrolled, sender: Enrolled, envelope: { id: EnvelopeId; content: string }) {
    const thief = ProtocolCore.open(device.profile.protocolStorage, { careTeams: { isCareTeam: () => true, isMember: () => true } });
    return thief.decrypt({ id: envelope.id, type: 'senderkey', sender: sender.client.address, recipient: device.client.address, content: envelope.content });
  }

  /** Sends team texts from `from` until its client defers `waiting` (whose queue fills); each reaches `reader` meanwhile. */
  async function fillQueue(from: Enrolled, team: ConversationId, waiting: Enrolled, reader: Enrolled): Promise<void> {
    for (let i = 1; i <= 6 && !delays(from).some((e) => e.userId === waiting.userId); i++) {
      await from.client.send(team, `Update ${i}`);
      await until(() => conversationBodies(reader, team).includes(`Update ${i}`), `update ${i} read`);
    }
    await until(() => delays(from).some((e) => e.userId === waiting.userId), 'the full queue waited for');
  }

  /** Lets the deferrals run out, again and again (a queue holds three envelopes), until `who` has read `body`. */
  async function readAfterWaits(who: Enrolled, team: ConversationId, body: string): Promise<void> {
    for (let i = 0; i < 20 && !conversationBodies(who, team).includes(body); i++) {
      ward.time.advance(30_000);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await until(() => conversationBodies(who, team).includes(body), `"${body}" read`);
  }

  /**
   * `device`, a workstation of `owner`'s that holds `alice`'s team key, goes offline and its queue fills: her messages
   * wait for `owner`, with the key kept. IT revokes it (`revoke`); what she writes next reaches `reader` (`owner` still
   * waits) under a new key, which the revoked workstation's stored state cannot read. Returns the key it holds.
   */
  async function revokeWhileWaiting(alice: Enrolled, team: ConversationId, owner: { who: Enrolled; device: Enrolled; revoke: () => Promise<void> }, reader: Enrolled): Promise<string | undefined> {
    const { device } = owner;
    await until(async () => (await relay.store.queued(device.client.address, 0, 10)).length === 0, "the workstation's queue drained");
    const key = ownDistribution(alice, team);
    await device.client.stop();
    await fillQueue(alice, team, owner.who, reader);
    expect(ownDistribution(alice, team)).toBe(key);
    await owner.revoke();
    const envelopes = await stored(async () => {
      await alice.client.send(team, 'Written after the revocation');
      await until(() => conversationBodies(reader, team).includes('Written after the revocation'), 'the message at the reader');
    });
    expect(ownDistribution(alice, team)).not.toBe(key);
    const forReader = envelopes.find((e) => e.type === 'senderkey' && e.recipient.userId === reader.userId)!;
    await expect(readWith(device, alice, forReader)).rejects.toBeInstanceOf(NoSenderKeyError);
    return key;
  }

  /** Alice's team with Bob (on his workstation and his laptop) and Carol, after a first message read everywhere. */
  async function teamWithLaptop() {
    const [alice, bob, carol] = [await ward.enroll('alice'), await ward.enroll('bob'), await ward.enroll('carol')];
    const laptop = await ward.addWorkstation('bob');
    const team = alice.client.createCareTeam('Ward 4 bed 12', [bob.userId, carol.userId]);
    await alice.client.send(team, 'Obs every hour');
    await until(() => [bob, laptop, carol].every((w) => conversationBodies(w, team).includes('Obs every hour')), 'the first team message everywhere');
    return { alice, bob, carol, laptop, team };
  }

  it("gives a waiting reader's revoked laptop nothing written after its revocation, and the reader gets it on his other workstation", async () => {
    const { alice, bob, carol, laptop, team } = await teamWithLaptop();
    // Bob's laptop is stolen (offline, its queue fills) and revoked: Alice writes to Carol while Bob waits.
    const key = await revokeWhileWaiting(alice, team, { who: bob, device: laptop, revoke: () => relay.accounts.revokeDevice('bob', laptop.client.address.deviceId) }, carol);
    // After the waits (his workstation's queue of three fills again with the new key), Bob reads it there.
    await readAfterWaits(bob, team, 'Written after the revocation');
    expect(distributionsFrom(laptop, alice)).toEqual([key]);
  });

  it('gives her own revoked workstation nothing written after its revocation while its queue was full', async () => {
    const [alice, bob] = [await ward.enroll('alice'), await ward.enroll('bob')];
    const desk = await ward.addWorkstation('alice');
    const team = alice.client.createCareTeam('Ward 4 bed 12', [bob.userId]);
    await alice.client.send(team, 'Obs every hour');
    await until(() => [bob, desk].every((w) => conversationBodies(w, team).includes('Obs every hour')), 'the first team message at both');
    const key = await revokeWhileWaiting(alice, team, { who: alice, device: desk, revoke: () => relay.accounts.revokeDevice('alice', desk.client.address.deviceId) }, bob);
    expect(distributionsFrom(desk, alice)).toEqual([key]);
  });

  it("gives a deactivated colleague's workstations nothing written after the deactivation while his messages wait", async () => {
    const { alice, bob, carol, laptop, team } = await teamWithLaptop();
    // Bob leaves the hospital while Alice's messages wait for his laptop's queue: his account is deactivated.
    const key = await revokeWhileWaiting(alice, team, { who: bob, device: laptop, revoke: () => relay.accounts.deactivate('bob') }, carol);
    expect(distributionsFrom(bob, alice)).toEqual([key]);
    expect(distributionsFrom(laptop, alice)).toEqual([key]);
  });

  it('keeps a removed member out and a new one in while a message waits for a full queue, in order for the one who waited', async () => {
    const [alice, bob, carol, dave] = [await ward.enroll('alice'), await ward.enroll('bob'), await ward.enroll('carol'), await ward.enroll('dave')];
    const team = alice.client.createCareTeam('Ward 4 bed 12', [bob.userId, carol.userId]);
    await alice.client.send(team, 'Obs every hour');
    await until(() => [bob, carol].every((w) => conversationBodies(w, team).includes('Obs every hour')), 'the first team message at both');
    await carol.client.stop();
    await fillQueue(alice, team, carol, bob);
    const waited = conversationBodies(bob, team).filter((b) => b.startsWith('Update'));
    // Dave joins while Carol waits: the message written now reaches him and Bob.
    alice.client.addCareTeamMembers(team, [dave.userId]);
    await alice.client.send(team, 'For the three of you');
    await until(() => conversationBodies(dave, team).includes('For the three of you'), 'the message at Dave');
    // Bob is removed while the earlier messages still wait for Carol.
    alice.client.removeCareTeamMember(team, bob.userId);
    carol.client.start();
    await until(async () => (await relay.store.queued(carol.client.address, 0, 10)).length === 0, "Carol's queue drained");
    await readAfterWaits(carol, team, 'For the three of you');
    expect(conversationBodies(carol, team)).toEqual(['Obs every hour', ...waited, 'For the three of you']);
    await alice.client.send(team, 'After Bob left');
    await until(() => [carol, dave].every((w) => conversationBodies(w, team).includes('After Bob left')), 'the next message at Carol and Dave');
    const final = ownDistribution(alice, team)!;
    expect(distributionsFrom(bob, alice)).not.toContain(final);
    expect(conversationBodies(bob, team)).not.toContain('After Bob left');
    expect(conversationBodies(dave, team)).toEqual(['For the three of you', 'After Bob left']);
  });

  it('reaches a member whose first workstation enrolled after the sender last read the directory', async () => {
    const [alice, bob] = [await ward.enroll('alice'), await ward.enroll('bob')];
    const carolAccount = await ward.addAccount('carol');
    // Bob makes the team; Alice, a member, writes to it while Carol has no workstation yet.
    const team = bob.client.createCareTeam('Ward 4 bed 12', [alice.userId, carolAccount.userId]);
    await until(() => alice.profile.database.all('SELECT 1 FROM conversations WHERE id = $c', { c: team }).length === 1, 'the team at Alice');
    await alice.client.send(team, 'Before Carol enrolled');
    await until(() => conversationBodies(bob, team).includes('Before Carol enrolled'), 'the first message at Bob');
    await until(() => alice.client.pendingCount() === 0, "Alice's outbox empty");
    // Carol enrolls; Alice's next message reaches her, with the team and Alice's key.
    const carol = await ward.enroll('carol', { enrollmentCode: carolAccount.enrollmentCode });
    // A member without a workstation has the directory read again at most once a minute (a whole-directory read).
    ward.time.advance(60_000);
    await alice.client.send(team, 'After Carol enrolled');
    await until(() => conversationBodies(carol, team).includes('After Carol enrolled'), 'the next message at Carol');
    expect(conversationBodies(carol, team)).not.toContain('Before Carol enrolled');
  });
});
