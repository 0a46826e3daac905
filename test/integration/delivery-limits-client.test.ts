import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import { directConversationId } from '../../main/core/messaging/directConversation';
import { currentTotp } from '../../server/auth/totp';
import { DEFAULT_CONFIG, type RelayConfig } from '../../server/RelayConfig';
import { RelayFailure } from '../../server/RelayFailure';
import type { RelayServer } from '../../server/RelayServer';
import { UiEventSchema } from '../../shared/contract';
import { addressKey, type DeviceAddress, type EnvelopeId } from '../../shared/ids';
import type { OutgoingEnvelope } from '../../shared/wire/relay';
import { VirtualWard, conversationBodies, delays, distributionsFrom, ownDistribution, type Enrolled } from '../fixtures/virtualWard';
import { PASSWORD, until } from '../fixtures/workstation';

/*
 * Issue 13, the client's side of the relay's quotas and rates: a refused message stays in the outbox, the
 * UI hears why, the client waits (as long as the relay says) and sends it later, in order, without holding
 * up messages to others; a flood of unreadable envelopes is one local audit record, not one per envelope.
 * The relay runs in process on the same virtual clock as the clients.
 */

describe('the messaging client against the relay limits', () => {
  let ward: VirtualWard;
  let relay: RelayServer;
  let time: VirtualWard['time'];

  beforeEach(() => {
    ward = new VirtualWard();
    time = ward.time;
  });

  afterEach(async () => {
    await ward.close();
  });

  const startRelay = async (overrides: Partial<RelayConfig>) => void (relay = await ward.startRelay(overrides));
  const enroll = (username: string) => ward.enroll(username);
  const addWorkstation = (username: string) => ward.addWorkstation(username);
  /** The texts `who` holds from the conversation with `peer`, in the order they arrived (all carry the same virtual time). */
  const bodies = (who: Enrolled, peer: Enrolled) => conversationBodies(who, directConversationId(who.userId, peer.userId));
  /** The totals of each refusal episode (its first refusal was written at once, and is not counted here). */
  const refusedEpisodes = async () => {
    time.advance(DEFAULT_CONFIG.refusalEpisodeQuietMs);
    await relay.messages.sweepLimits();
    return (await relay.store.auditRecords(0, Number.MAX_SAFE_INTEGER)).filter((r) => r.type === 'envelope.refused' && r.details.episode === 'ended');
  };

  it("keeps a message for a colleague whose relay queue is full, says so, sends others' meanwhile, and delivers it in order later", async () => {
    // Alice alone may fill Bob's queue here (a sender's share of it is relay-account-limits.test.ts's).
    await startRelay({ delivery: { ...DEFAULT_CONFIG.delivery, maxQueuedEnvelopes: 3, senderSharePercent: 100 } });
    const alice = await enroll('alice');
    const bob = await enroll('bob');
    const carol = await enroll('carol');
    await bob.client.stop(); // Bob is away: his queue on the relay fills up.

    for (let i = 1; i <= 3; i++) await alice.client.sendText(bob.userId, `for Bob ${i}`);
    await until(() => alice.client.pendingCount() === 0, 'three messages accepted');
    const fourth = await alice.client.sendText(bob.userId, 'for Bob 4');
    await until(() => delays(alice).some((e) => e.messageId === fourth), 'the delay is reported');
    const delay = delays(alice).find((e) => e.messageId === fourth);
    expect(delay).toEqual({ type: 'sendDelayed', messageId: fourth, reason: 'RECIPIENT_QUEUE_FULL', userId: bob.userId, retryAt: time.now() + 30_000 });
    expect(UiEventSchema.safeParse(delay).success).toBe(true);
    expect(alice.client.pending([fourth]).has(fourth)).toBe(true);

    // A message to Carol, written after it, is not held up behind it.
    await alice.client.sendText(carol.userId, 'for Carol');
    await until(() => bodies(carol, alice).includes('for Carol'), 'Carol gets hers');
    // Another for Bob waits behind the fourth without a request to the relay (Bob's queue is still full).
    const fifth = await alice.client.sendText(bob.userId, 'for Bob 5');
    await until(() => delays(alice).some((e) => e.messageId === fifth), 'the fifth is reported waiting');
    expect(alice.client.pendingCount()).toBe(2);

    // Bob comes back and takes his queue; after the back-off, Alice's client sends the rest, in order.
    bob.client.start();
    await until(() => bodies(bob, alice).length === 3, 'Bob gets the first three');
    await until(async () => (await relay.store.queued(bob.client.address, 0, 10)).length === 0, "Bob's queue drained");
    time.advance(30_000);
    await until(() => alice.client.pendingCount() === 0, 'the held messages go');
    await until(() => bodies(bob, alice).length === 5, 'Bob gets the rest');
    expect(bodies(bob, alice)).toEqual(['for Bob 1', 'for Bob 2', 'for Bob 3', 'for Bob 4', 'for Bob 5']);

    // The relay audited one episode, and Alice's client tried it once only while Bob's queue was full.
    const episodes = await refusedEpisodes();
    expect(episodes).toHaveLength(1);
    expect(episodes[0]).toMatchObject({ actor: addressKey(alice.client.address), subject: bob.userId, details: { reason: 'RECIPIENT_QUEUE_FULL', requests: 1, envelopes: 1 } });
  });

  it("goes on reaching colleagues while her own other workstation's queue is full, and that one gets its copies later", async () => {
    await startRelay({ delivery: { ...DEFAULT_CONFIG.delivery, maxQueuedEnvelopes: 3, senderSharePercent: 100 } });
    const alice = await enroll('alice');
    const bob = await enroll('bob');
    const laptop = await addWorkstation('alice');
    await laptop.client.stop(); // Left signed in on another ward: the copies of what Alice sends fill its queue.

    for (let i = 1; i <= 5; i++) await alice.client.sendText(bob.userId, `for Bob ${i}`);
    // The fourth found the laptop's queue full (Bob's copy went); the fifth went to Bob without the laptop's copy,
    // the relay told that it is left out on purpose (else it would ask for it, and Bob would wait for the laptop).
    await until(() => bodies(bob, alice).length === 5, 'Bob gets all five');
    expect(bodies(bob, alice)).toEqual(['for Bob 1', 'for Bob 2', 'for Bob 3', 'for Bob 4', 'for Bob 5']);
    expect(delays(alice).some((e) => e.reason === 'RECIPIENT_QUEUE_FULL' && e.userId === alice.userId)).toBe(true);

    // The laptop comes back and takes its queue (copies, and Bob's receipts, which fill it too); after the back-off
    // the copies that found it full go, in order.
    laptop.client.start();
    await until(async () => (await relay.store.queued(laptop.client.address, 0, 10)).length === 0, "the laptop's queue drained");
    expect(bodies(laptop, bob).length).toBeLessThan(5);
    time.advance(30_000);
    await until(() => alice.client.pendingCount() === 0, 'the held copies go');
    await until(() => bodies(laptop, bob).length === 5, 'the laptop gets the rest');
    expect(bodies(laptop, bob)).toEqual(['for Bob 1', 'for Bob 2', 'for Bob 3', 'for Bob 4', 'for Bob 5']);
  });

  it('waits as long as the relay says when over its send rate, then sends the rest', async () => {
    await startRelay({ delivery: { ...DEFAULT_CONFIG.delivery, sendEnvelopesPerMinute: 4 } });
    const alice = await enroll('alice');
    const bob = await enroll('bob');
    for (let i = 1; i <= 4; i++) await alice.client.sendText(bob.userId, `message ${i}`);
    await until(() => alice.client.pendingCount() === 0, 'four within the rate');
    const fifth = await alice.client.sendText(bob.userId, 'message 5');
    await until(() => delays(alice).some((e) => e.messageId === fifth), 'the delay is reported');
    expect(delays(alice).find((e) => e.messageId === fifth)).toMatchObject({ reason: 'RATE_LIMITED', retryAt: time.now() + 15_000 });
    const sixth = await alice.client.sendText(bob.userId, 'message 6');
    // Nothing more is tried before the relay's Retry-After...
    time.advance(14_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(alice.client.pendingCount()).toBe(2);
    // ...then one goes, the next waits its turn, and so on.
    time.advance(1000);
    await until(() => alice.client.pendingCount() === 1, 'the fifth goes after 15 s');
    await until(() => delays(alice).some((e) => e.messageId === sixth), 'the sixth waits its turn');
    expect(delays(alice).find((e) => e.messageId === sixth)).toMatchObject({ reason: 'RATE_LIMITED', retryAt: time.now() + 15_000 });
    time.advance(15_000);
    await until(() => alice.client.pendingCount() === 0, 'the sixth after another 15 s');
    await until(() => bodies(bob, alice).length === 6, 'Bob gets all six');
    expect(bodies(bob, alice)).toEqual(['message 1', 'message 2', 'message 3', 'message 4', 'message 5', 'message 6']);
    const episodes = await refusedEpisodes();
    expect(episodes).toHaveLength(1);
    expect(episodes[0]).toMatchObject({ actor: addressKey(alice.client.address), flagged: true, details: { reason: 'SEND_RATE_LIMITED', requests: 2 } });
  });

  it('tells the clinician when her own share of a colleague\'s queue is full, while others still reach him', async () => {
    // A sender may fill 20% of a queue of 10: two envelopes.
    await startRelay({ delivery: { ...DEFAULT_CONFIG.delivery, maxQueuedEnvelopes: 10, senderSharePercent: 20 } });
    const alice = await enroll('alice');
    const bob = await enroll('bob');
    const carol = await enroll('carol');
    await bob.client.stop();
    for (let i = 1; i <= 2; i++) await alice.client.sendText(bob.userId, `from Alice ${i}`);
    await until(() => alice.client.pendingCount() === 0, 'two within her share');
    const third = await alice.client.sendText(bob.userId, 'from Alice 3');
    await until(() => delays(alice).some((e) => e.messageId === third), 'the delay is reported');
    expect(delays(alice).find((e) => e.messageId === third)).toMatchObject({ reason: 'SENDER_SHARE_FULL', userId: bob.userId });
    await carol.client.sendText(bob.userId, 'from Carol');
    await until(() => carol.client.pendingCount() === 0, "Carol's message is taken");
    bob.client.start();
    await until(() => bodies(bob, carol).includes('from Carol'), 'Bob gets Carol\'s');
    time.advance(30_000);
    await until(() => bodies(bob, alice).length === 3, 'Bob gets all of Alice\'s, in order');
    expect(bodies(bob, alice)).toEqual(['from Alice 1', 'from Alice 2', 'from Alice 3']);
  });

  it('keeps everything in the outbox while the relay is short of disk space, says so, and sends it when it has room', async () => {
    await startRelay({});
    const alice = await enroll('alice');
    const bob = await enroll('bob');
    // The disk fills up (here: the relay's floor is raised above what is free).
    (relay.config as { minFreeDiskBytes: number }).minFreeDiskBytes = Number.MAX_SAFE_INTEGER;
    const waiting = await alice.client.sendText(bob.userId, 'Bed 3 needs a review');
    await until(() => delays(alice).some((e) => e.messageId === waiting), 'the delay is reported');
    expect(delays(alice).find((e) => e.messageId === waiting)).toMatchObject({ reason: 'RELAY_STORAGE_FULL' });
    expect(UiEventSchema.safeParse(delays(alice).at(-1)).success).toBe(true);
    expect(alice.client.pending([waiting]).has(waiting)).toBe(true);
    // The disk has room again (here: the relay's floor is lowered), and after the relay's wait it goes.
    (relay.config as { minFreeDiskBytes: number }).minFreeDiskBytes = 0;
    time.advance(delays(alice).at(-1)!.retryAt - time.now());
    await until(() => bodies(bob, alice).includes('Bed 3 needs a review'), 'delivered once there is room');
  });

  it('a message to a colleague still to enroll waits, says why, and reaches her once she has enrolled', async () => {
    await startRelay({});
    const alice = await enroll('alice');
    await relay.accounts.addUser('carol', 'Dr. carol', 'clinician');
    const carolId = (await relay.store.userByUsername('carol'))!.id;
    // Carol is in the directory, not yet reachable; Alice writes to her anyway (offline she could not tell).
    expect((await alice.client.directory()).find((c) => c.userId === carolId)).toMatchObject({ reachable: false });
    const waiting = await alice.client.send(alice.client.openDirect(carolId), 'Bed 9: handover at 19:00');
    await until(() => delays(alice).some((e) => e.messageId === waiting), 'the delay is reported');
    expect(delays(alice).find((e) => e.messageId === waiting)).toMatchObject({ reason: 'RECIPIENT_NOT_ENROLLED', userId: carolId });
    expect(UiEventSchema.safeParse(delays(alice).at(-1)).success).toBe(true);
    // Not sent, and not audited as sent to her.
    expect(alice.client.pending([waiting]).has(waiting)).toBe(true);
    expect(alice.profile.database.all("SELECT 1 FROM local_audit WHERE type = 'message.sent'")).toEqual([]);
    // Carol enrolls; at Alice's next try the message reaches her.
    const carol = await enroll('carol');
    time.advance(delays(alice).at(-1)!.retryAt - time.now());
    await until(() => bodies(carol, alice).includes('Bed 9: handover at 19:00'), 'delivered once she has enrolled');
    await until(() => !alice.client.pending([waiting]).has(waiting), 'no longer pending');
  });

  it('audits a flood of unreadable envelopes from one sender once per episode, with a count, never content', async () => {
    await startRelay({});
    const bob = await enroll('bob');
    // Mallory's device sends garbage straight to the relay (which cannot tell: it never reads content).
    const { enrollmentCode } = await relay.accounts.addUser('mallory', 'Mallory', 'clinician');
    const begin = await relay.accounts.beginEnrollment('mallory', enrollmentCode, { address: '127.0.0.1' });
    const keys = await ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 2 } }).keys.initialUpload();
    const session = await relay.accounts.completeEnrollment(begin.enrollmentId, PASSWORD, currentTotp(begin.totpSecret, time.now()), { name: 'ws', keys }, { address: '127.0.0.1' });
    const mallory: DeviceAddress = { userId: session.userId, deviceId: session.deviceId };
    const types = ['whisper', 'prekey', 'senderkey'] as const;
    const garbage = (n: number): OutgoingEnvelope[] => Array.from({ length: n }, (_, i) => ({ id: randomUUID() as EnvelopeId, type: types[i % 3] ?? 'whisper', recipient: bob.client.address, content: randomBytes(200 + i).toString('base64') }));
    const rejected = () => bob.profile.database.all<{ details: string }>("SELECT details FROM local_audit WHERE type = 'message.rejected'").map((r) => JSON.parse(r.details) as Record<string, string>);
    for (const e of garbage(25)) await relay.messages.send(mallory, [e]);
    await until(async () => (await relay.store.queued(bob.client.address, 0, 100)).length === 0, 'Bob took (and dropped) all 25');
    // While the flood lasts nothing is written per envelope...
    expect(rejected()).toEqual([]);
    // ...and once it has been quiet for five minutes, one record says who, how many and why.
    time.advance(6 * 60_000);
    expect(rejected()).toHaveLength(1);
    expect(rejected()[0]).toMatchObject({ sender: addressKey(mallory), count: '25' });
    expect(rejected()[0]!.codes).toMatch(/^[A-Z_]+:\d+( [A-Z_]+:\d+)*$/);
    // A new flood is a new episode; stopping the client (a lock) writes the open one.
    for (const e of garbage(3)) await relay.messages.send(mallory, [e]);
    await until(async () => (await relay.store.queued(bob.client.address, 0, 100)).length === 0, 'Bob took three more');
    await bob.client.stop();
    expect(rejected().map((r) => r.count)).toEqual(['25', '3']);
  });

  it("keeps the team's sender key when one member's queue is full: others read on, and she gets the message later", async () => {
    // Room for one message with the team and its key (three envelopes).
    await startRelay({ delivery: { ...DEFAULT_CONFIG.delivery, maxQueuedEnvelopes: 3, senderSharePercent: 100 } });
    const [alice, bob, carol] = [await enroll('alice'), await enroll('bob'), await enroll('carol')];
    const team = alice.client.createCareTeam('Ward 4 bed 12', [bob.userId, carol.userId]);
    const teamBodies = (who: Enrolled) => conversationBodies(who, team);
    await alice.client.send(team, 'Obs every hour');
    await until(() => teamBodies(bob).includes('Obs every hour') && teamBodies(carol).includes('Obs every hour'), 'the first team message at both');
    const key = ownDistribution(alice, team);
    await carol.client.stop(); // Carol is away: three team messages fill her queue.
    for (let i = 1; i <= 3; i++) await alice.client.send(team, `Update ${i}`);
    await until(() => alice.client.pendingCount() === 0, 'three taken for both');
    // The fourth is refused for Carol alone (the relay takes Bob's); the fifth waits for her without asking the relay.
    const fourth = await alice.client.send(team, 'Update 4');
    await until(() => delays(alice).some((e) => e.messageId === fourth && e.userId === carol.userId), "the fourth waits for Carol's queue");
    const fifth = await alice.client.send(team, 'Update 5');
    await until(() => teamBodies(bob).includes('Update 5'), 'Bob reads the fourth and fifth meanwhile');
    // Carol takes her queue; after the wait she gets the rest, in order, with the same key.
    carol.client.start();
    await until(async () => (await relay.store.queued(carol.client.address, 0, 10)).length === 0, "Carol's queue drained");
    time.advance(30_000);
    await until(() => alice.client.pending([fourth, fifth]).size === 0, 'the held messages go');
    await until(() => teamBodies(carol).length === 6, 'Carol gets the rest');
    expect(teamBodies(carol)).toEqual(['Obs every hour', 'Update 1', 'Update 2', 'Update 3', 'Update 4', 'Update 5']);
    await alice.client.send(team, 'Update 6');
    await until(() => teamBodies(bob).includes('Update 6') && teamBodies(carol).includes('Update 6'), 'the next one at both');
    // A full queue is no change of who is in the team: nobody was given a new key.
    expect(ownDistribution(alice, team)).toBe(key);
    expect(distributionsFrom(bob, alice)).toEqual([key]);
    expect(distributionsFrom(carol, alice)).toEqual([key]);
  });

  it('gives a member the key she missed for her full queue when she gets the message, without a new key for the others', async () => {
    await startRelay({ delivery: { ...DEFAULT_CONFIG.delivery, maxQueuedEnvelopes: 3, senderSharePercent: 100 } });
    const [alice, bob, carol, dave] = [await enroll('alice'), await enroll('bob'), await enroll('carol'), await enroll('dave')];
    const team = alice.client.createCareTeam('Ward 4 bed 12', [bob.userId, carol.userId, dave.userId]);
    const teamBodies = (who: Enrolled) => conversationBodies(who, team);
    await alice.client.send(team, 'Obs every hour');
    await until(() => [bob, carol, dave].every((w) => teamBodies(w).includes('Obs every hour')), 'the first team message at all three');
    const before = ownDistribution(alice, team)!;
    // Carol is away; Dave leaves the team (the change fills one place in her queue), so the next message has a new key.
    await carol.client.stop();
    alice.client.removeCareTeamMember(team, dave.userId);
    await until(async () => (await relay.store.queued(carol.client.address, 0, 10)).length === 1 && alice.client.pendingCount() === 0, "the change in Carol's queue");
    // The new key, the team and the message for Carol (three envelopes) do not fit: Bob's go, hers are refused.
    const next = await alice.client.send(team, 'Bed 12 to theatre at 2');
    await until(() => delays(alice).some((e) => e.messageId === next && e.userId === carol.userId), "the message waits for Carol's queue");
    await until(() => teamBodies(bob).includes('Bed 12 to theatre at 2'), 'Bob reads it');
    const key = ownDistribution(alice, team)!;
    expect(key).not.toBe(before);
    carol.client.start();
    await until(async () => (await relay.store.queued(carol.client.address, 0, 10)).length === 0, "Carol's queue drained");
    time.advance(30_000);
    await until(() => teamBodies(carol).includes('Bed 12 to theatre at 2'), 'Carol gets it, and the key to read it');
    await alice.client.send(team, 'Back at 4');
    await until(() => teamBodies(bob).includes('Back at 4') && teamBodies(carol).includes('Back at 4'), 'the next one at both');
    expect(ownDistribution(alice, team)).toBe(key);
    expect(distributionsFrom(bob, alice)).toEqual([before, key].sort());
    expect(distributionsFrom(carol, alice)).toEqual([before, key].sort());
    expect(distributionsFrom(dave, alice)).toEqual([before]);
  });

  it('a care-team send the relay stored but answered RELAY_UNAVAILABLE: once a member is removed, the next attempt has a sender key she never got', async () => {
    await startRelay({});
    const [alice, bob, carol] = [await enroll('alice'), await enroll('bob'), await enroll('carol')];
    const team = alice.client.createCareTeam('Ward 4 bed 12', [bob.userId]);
    const teamBodies = (who: Enrolled) => conversationBodies(who, team);
    await alice.client.send(team, 'Obs every hour');
    await until(() => teamBodies(bob).includes('Obs every hour'), 'the first team message at Bob');
    const first = ownDistribution(alice, team);
    // Carol joins: Alice's next team text gives her the key. The relay stores that send, then answers as it does when
    // PostgreSQL lost the outcome of its COMMIT (RELAY_UNAVAILABLE): Carol's copy of the key is on the relay.
    alice.client.addCareTeamMembers(team, [carol.userId]);
    const enqueue = relay.store.enqueue;
    let lost = 0;
    relay.store.enqueue = async function (this: typeof relay.store, ...args: Parameters<typeof enqueue>) {
      const outcomes = await enqueue.apply(this, args);
      if (lost === 0 && args[0].some((e) => e.type === 'senderkey')) {
        lost++;
        throw new RelayFailure('RELAY_UNAVAILABLE', 'the database did not say whether it committed; try again shortly', { retryAfterSeconds: 2, retryAfterMs: 2000 });
      }
      return outcomes;
    };
    try {
      await alice.client.send(team, 'Bed 12 to theatre at 2');
      await until(() => lost === 1, 'the send stored, its answer lost');
      await until(async () => (await relay.store.queued(carol.client.address, 0, 100)).some((e) => e.type === 'senderkey'), 'Carol\'s copy stored at the relay');
      // Removed before the send is tried again: she must not hold the key what is sent from now on uses.
      alice.client.removeCareTeamMember(team, carol.userId);
      time.advance(3000);
      await until(() => teamBodies(bob).includes('Bed 12 to theatre at 2'), 'the retried message at Bob');
    } finally {
      relay.store.enqueue = enqueue;
    }
    const now = ownDistribution(alice, team);
    expect(now).toBeDefined();
    expect(now).not.toBe(first);
    expect(carol.profile.protocolStorage.keys('careTeam', `from/${alice.userId}.`).map((key) => key.split('/')[2])).not.toContain(now);
  });
});
