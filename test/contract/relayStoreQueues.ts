/** The RelayStore contract (relayStoreContract.ts): envelope queues, their limits, retention and totals. */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { NewEnvelope, QueueLimits } from '../../server/storage/RelayStore';
import { DeviceIdSchema, UserIdSchema, type DeviceAddress, type UserId } from '../../shared/ids';
import { NOW, ROOMY, accepted, audited, envelope, follower, type ContractStores } from './relayStoreStores';

export function relayStoreQueues(t: ContractStores): void {
  it('queues in order, pages after a position, and removes only what the recipient acknowledges', async () => {
    const { store, other } = t;
    const [alice, bob, carol] = [await t.account(), await t.account(), await t.account()];
    const sent = [envelope(alice, bob), envelope(alice, bob), envelope(alice, bob)];
    expect(await store.enqueue(sent, accepted, ROOMY)).toEqual(['queued', 'queued', 'queued']);
    const queued = await other.queued(bob, 0, 10);
    expect(queued.map((e) => e.id)).toEqual(sent.map((e) => e.id));
    expect(queued.map((e) => [e.sender, e.recipient, e.content, e.type, e.acceptedAt])).toEqual(sent.map((e) => [alice, bob, e.content, 'whisper', NOW]));
    expect((await store.queued(bob, queued[0]!.seq, 10)).map((e) => e.id)).toEqual(sent.slice(1).map((e) => e.id));
    expect((await store.queued(bob, 0, 2)).map((e) => e.id)).toEqual(sent.slice(0, 2).map((e) => e.id));
    // Another device cannot acknowledge bob's envelopes away.
    expect(await store.acknowledge(carol, [sent[0]!.id], audited('envelope.delivered'))).toEqual([]);
    expect(await other.acknowledge(bob, [sent[0]!.id, sent[1]!.id], audited('envelope.delivered'))).toEqual([sent[0]!.id, sent[1]!.id]);
    expect((await store.queued(bob, 0, 10)).map((e) => e.id)).toEqual([sent[2]!.id]);
    // Accepted and delivered, each in the audit log once.
    expect(await t.audit('envelope.accepted', 'envelope.delivered')).toEqual([...sent.map((e) => ['envelope.accepted', e.id]), ['envelope.delivered', sent[0]!.id], ['envelope.delivered', sent[1]!.id]]);
  });

  it('answers reads of many queues asked for in one turn each with its own page', async () => {
    const { store } = t;
    const [alice, bob, carol, dave] = [await t.account(), await t.account(), await t.account(), await t.account()];
    const toBob = [envelope(alice, bob), envelope(carol, bob), envelope(alice, bob)];
    const toCarol = [envelope(alice, carol), envelope(bob, carol)];
    await store.enqueue([...toBob.slice(0, 2), ...toCarol], accepted, ROOMY);
    await store.enqueue([toBob[2]!], accepted, ROOMY);
    const [bobFirst] = await store.queued(bob, 0, 1);
    // Asked together (the relay's deliveries of one turn): different queues, positions and page sizes, one
    // queue twice, a queue that is empty and a page of nothing.
    const pages = await Promise.all([
      store.queued(bob, 0, 2), store.queued(carol, 0, 10), store.queued(bob, bobFirst!.seq, 10), store.queued(dave, 0, 10), store.queued(carol, 0, 1), store.queued(bob, 0, 0),
    ]);
    const ids = (page: readonly { id: string }[]) => page.map((e) => e.id);
    expect(pages.map(ids)).toEqual([ids(toBob.slice(0, 2)), ids(toCarol), ids(toBob.slice(1)), [], ids(toCarol.slice(0, 1)), []]);
    expect(pages[1]!.map((e) => [e.sender, e.recipient])).toEqual([[alice, carol], [bob, carol]]);
  });

  it('acknowledges an envelope once however often its id is listed, and queues nothing for a device that never was', async () => {
    const { store, other } = t;
    const [alice, bob] = [await t.account(), await t.account()];
    const sent = [envelope(alice, bob), envelope(alice, bob)];
    await store.enqueue(sent, accepted, ROOMY);
    expect(await other.acknowledge(bob, [sent[0]!.id, sent[0]!.id, sent[1]!.id, sent[0]!.id], audited('envelope.delivered'))).toEqual([sent[0]!.id, sent[1]!.id]);
    expect(await t.audit('envelope.delivered')).toEqual([['envelope.delivered', sent[0]!.id], ['envelope.delivered', sent[1]!.id]]);
    // A recipient that never existed, sent to beside a real one (in one group commit): refused alone.
    const nobody = { userId: UserIdSchema.parse(randomUUID()), deviceId: bob.deviceId };
    const outcomes = await Promise.all([store.enqueue([envelope(alice, nobody)], accepted, ROOMY), store.enqueue([envelope(alice, bob)], accepted, ROOMY), store.enqueue([envelope(alice, { ...bob, deviceId: DeviceIdSchema.parse(9) })], accepted, ROOMY)]);
    expect(outcomes).toEqual([['deviceGone'], ['queued'], ['deviceGone']]);
    expect(await store.queuedTotal()).toBe(1);
  });

  it('takes a resend of a queued envelope, refuses another envelope with its id, and queues nothing for a revoked device', async () => {
    const { store } = t;
    const [alice, bob] = [await t.account(), await t.account()];
    const first = envelope(alice, bob);
    await store.enqueue([first], accepted, ROOMY);
    expect(await t.other.enqueue([first], accepted, ROOMY)).toEqual(['alreadyQueued']);
    expect(await store.enqueue([{ ...first, content: 'BBBB' }], accepted, ROOMY)).toEqual(['idTaken']);
    expect(await t.audit('envelope.accepted')).toEqual([['envelope.accepted', first.id]]);
    await store.revokeDevice(bob.userId, bob.deviceId, NOW, []);
    expect(await store.queued(bob, 0, 10)).toEqual([]);
    expect(await store.enqueue([envelope(alice, bob)], accepted, ROOMY)).toEqual(['deviceGone']);
  });

  it('decides the requests of one commit in the order they came: a resend then its acknowledgement, a resend beside a new envelope', async () => {
    const { store } = t;
    const [alice, bob, carol] = [await t.account(), await t.account(), await t.account()];
    const first = envelope(alice, bob);
    await store.enqueue([first], accepted, ROOMY);
    // In one turn (one group commit): the sender resends it (a lost answer), then bob acknowledges it.
    const [resent, acknowledged] = await Promise.all([store.enqueue([{ ...first }], accepted, ROOMY), store.acknowledge(bob, [first.id], (id) => ({ type: 'envelope.delivered', actor: 'contract', subject: id, details: {} }))]);
    expect([resent, acknowledged]).toEqual([['alreadyQueued'], [first.id]]);
    expect(await store.queued(bob, 0, 10)).toEqual([]);
    // Accepted once, delivered once.
    expect(await t.audit('envelope.accepted', 'envelope.delivered')).toEqual([['envelope.accepted', first.id], ['envelope.delivered', first.id]]);
    // Carol holds one of two places: a resend of it takes no place, so a new envelope beside it fits.
    const tight = { ...ROOMY, maxEnvelopes: 2, maxEnvelopesPerSender: 2 };
    const held = envelope(alice, carol);
    await store.enqueue([held], accepted, tight);
    const next = envelope(alice, carol);
    expect(await Promise.all([store.enqueue([{ ...held }], accepted, tight), store.enqueue([next], accepted, tight)])).toEqual([['alreadyQueued'], ['queued']]);
    expect((await store.queued(carol, 0, 10)).map((e) => e.id)).toEqual([held.id, next.id]);
  });

  it("holds a queue's limit and each sender's share of it against senders racing", async () => {
    const { store } = t;
    const bob = await t.account();
    const senders = await Promise.all(Array.from({ length: 6 }, () => t.account()));
    const limits: QueueLimits = { maxEnvelopes: 10, maxBytes: 1 << 30, maxEnvelopesPerSender: 3, maxBytesPerSender: 1 << 30 };
    const outcomes = (await Promise.all(senders.flatMap((s, k) => Array.from({ length: 4 }, () => t.either(k).enqueue([envelope(s, bob)], accepted, limits))))).flat();
    expect(outcomes.filter((o) => o === 'queued')).toHaveLength(10);
    const queued = await store.queued(bob, 0, 100);
    expect(queued).toHaveLength(10);
    const perSender = new Map<UserId, number>();
    for (const e of queued) perSender.set(e.sender.userId, (perSender.get(e.sender.userId) ?? 0) + 1);
    expect(Math.max(...perSender.values())).toBeLessThanOrEqual(3);
    const atShare = senders.find((s) => perSender.get(s.userId) === 3);
    const belowShare = senders.find((s) => (perSender.get(s.userId) ?? 0) < 3)!;
    expect(await store.enqueue([envelope(belowShare, bob)], accepted, limits)).toEqual(['queueFull']);
    // Acknowledged envelopes make room again, for a sender below its share, not for one at it.
    await store.acknowledge(bob, queued.filter((e) => e.sender.userId !== atShare?.userId).slice(0, 2).map((e) => e.id), audited('envelope.delivered'));
    if (atShare) expect(await store.enqueue([envelope(atShare, bob)], accepted, limits)).toEqual(['senderShareFull']);
    expect(await store.enqueue([envelope(belowShare, bob)], accepted, limits)).toEqual(['queued']);
  });

  it("holds the byte limits of a queue and of a sender share, and takes or refuses one call's envelopes for a device together", async () => {
    const { store } = t;
    const [alice, carol, bob] = [await t.account(), await t.account(), await t.account()];
    // 400 base64 characters: 300 bytes of ciphertext each.
    const big = (from: DeviceAddress) => envelope(from, bob, 'A'.repeat(400));
    const limits: QueueLimits = { maxEnvelopes: 100, maxBytes: 1000, maxEnvelopesPerSender: 100, maxBytesPerSender: 600 };
    expect(await store.enqueue([big(alice), big(alice), big(alice)], accepted, limits)).toEqual(['senderShareFull', 'senderShareFull', 'senderShareFull']);
    expect(await store.enqueue([big(alice), big(alice)], accepted, limits)).toEqual(['queued', 'queued']);
    expect(await store.enqueue([big(alice)], accepted, limits)).toEqual(['senderShareFull']);
    expect(await store.enqueue([big(carol), big(carol)], accepted, limits)).toEqual(['queueFull', 'queueFull']);
    const held = (await store.queued(bob, 0, 10))[0]!;
    expect(await store.enqueue([big(carol)], accepted, limits)).toEqual(['queued']);
    // A full queue still takes back an envelope it holds (a resend): accepted, not refused.
    const resend: NewEnvelope = { id: held.id, type: held.type, sender: held.sender, recipient: held.recipient, content: held.content, acceptedAt: held.acceptedAt };
    expect(await store.enqueue([resend], accepted, limits)).toEqual(['alreadyQueued']);
    expect(await store.queued(bob, 0, 10)).toHaveLength(3);
  });

  it('queues nothing for a device revoked while sends race it', async () => {
    const { store, other } = t;
    const [alice, bob] = [await t.account(), await t.account()];
    const sends = Array.from({ length: 10 }, (_, i) => t.either(i).enqueue([envelope(alice, bob)], accepted, ROOMY));
    const [outcomes] = await Promise.all([Promise.all(sends), other.revokeDevice(bob.userId, bob.deviceId, NOW, [])]);
    expect(outcomes.flat().every((o) => o === 'queued' || o === 'deviceGone')).toBe(true);
    expect(await store.queued(bob, 0, 100)).toEqual([]);
    expect(await store.enqueue([envelope(alice, bob)], accepted, ROOMY)).toEqual(['deviceGone']);
  });

  it('never lets a recipient paging its queue by seq miss an envelope, however many are sent at once through both instances', async () => {
    const bob = await t.account();
    const senders = await Promise.all(Array.from({ length: 4 }, () => t.account()));
    const following = follower((after) => t.other.queued(bob, after, 100));
    const sent = senders.flatMap((s) => Array.from({ length: 10 }, () => envelope(s, bob)));
    await Promise.all(sent.map((e, i) => t.either(i).enqueue([e], accepted, ROOMY)));
    expect((await following.stop()).map((e) => e.id).sort()).toEqual(sent.map((e) => e.id).sort());
  });

  it('expires envelopes past retention on either instance, each expiry audited once with its count', async () => {
    const { store, other } = t;
    const [alice, bob, carol] = [await t.account(), await t.account(), await t.account()];
    const old = (to: DeviceAddress, age: number) => ({ ...envelope(alice, to), acceptedAt: NOW - age });
    await store.enqueue([old(bob, 10_000), old(bob, 5000), envelope(alice, bob), old(carol, 10_000)], accepted, ROOMY);
    const expired = (count: number) => ({ type: 'envelope.expired' as const, actor: 'system', subject: '', details: { count } });
    // Two instances running retention at once expire each envelope once between them.
    const counts = await Promise.all([store.expireEnvelopes(NOW - 6000, expired), other.expireEnvelopes(NOW - 6000, expired)]);
    expect(counts[0] + counts[1]).toBe(2);
    expect(await other.expireEnvelopes(NOW - 1, expired)).toBe(1);
    // Nothing left to expire: nothing audited.
    expect(await store.expireEnvelopes(NOW - 1, expired)).toBe(0);
    expect(await store.queued(bob, 0, 10)).toHaveLength(1);
    expect(await store.queued(carol, 0, 10)).toEqual([]);
    const audit = await store.auditRecordsAfter(0, 1000, { types: ['envelope.expired'] });
    expect(audit.map((r) => Number(r.details.count)).sort()).toEqual([...counts.filter((n) => n > 0), 1].sort());
    // What expired no longer counts against the queue.
    const tight: QueueLimits = { maxEnvelopes: 2, maxBytes: 1 << 30, maxEnvelopesPerSender: 2, maxBytesPerSender: 1 << 30 };
    expect(await store.enqueue([envelope(alice, bob)], accepted, tight)).toEqual(['queued']);
    expect(await store.enqueue([envelope(alice, bob)], accepted, tight)).toEqual(['queueFull']);
  });

  it('counts every queued envelope in its total, and stops counting what is acknowledged, revoked or expired', async () => {
    const { store, other } = t;
    const [alice, bob, carol] = [await t.account(), await t.account(), await t.account()];
    expect(await store.queuedTotal()).toBe(0);
    const toBob = [envelope(alice, bob), envelope(alice, bob), envelope(carol, bob)];
    await store.enqueue([...toBob, envelope(alice, carol), { ...envelope(bob, carol), acceptedAt: NOW - 10_000 }], accepted, ROOMY);
    expect(await other.queuedTotal()).toBe(5);
    await other.acknowledge(bob, [toBob[0]!.id, toBob[1]!.id], audited('envelope.delivered'));
    expect(await store.queuedTotal()).toBe(3);
    await store.expireEnvelopes(NOW - 1, (count) => ({ type: 'envelope.expired', actor: 'system', subject: '', details: { count } }));
    expect(await other.queuedTotal()).toBe(2);
    await other.revokeDevice(bob.userId, bob.deviceId, NOW, []);
    expect(await store.queuedTotal()).toBe(1);
  });
}
