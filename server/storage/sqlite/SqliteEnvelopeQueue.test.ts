import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, tempDataDir } from '../../../test/fixtures/relayProcess';
import { ROOMY, accepted, audited, keyUpload } from '../../../test/contract/relayStoreStores';
import { UserIdSchema, type DeviceAddress, type EnvelopeId } from '../../../shared/ids';
import type { KeyUpload } from '../../../shared/wire/keys';
import { openStore } from '../../openStore';
import type { CommittedEnvelope, NewEnvelope, QueueLimits, RelayStore } from '../RelayStore';

/*
 * What the SQLite store vouches for when it says what a commit queued (RelayStore.enqueue's `committed`): the
 * delivery hub pushes those envelopes without reading them back when `after` is where it stopped, so `after`
 * must be the envelope before each one in its queue, with two stores writing to one file as well.
 */
describe('the SQLite store says what each commit queued, after what', () => {
  let dir: string;
  let store: RelayStore;
  let other: RelayStore;
  let keys: KeyUpload;

  beforeAll(async () => {
    dir = tempDataDir();
    store = openStore(dir);
    other = openStore(dir);
    keys = await keyUpload(1);
  }, 60_000);

  afterAll(async () => {
    await store.close();
    await other.close();
    removeDir(dir);
  });

  async function account(): Promise<DeviceAddress> {
    const userId = UserIdSchema.parse(randomUUID());
    const now = Date.now();
    await store.createUser({ id: userId, username: `u-${userId}`, displayName: 'Someone', role: 'clinician', status: 'active', createdAt: now, lastActiveAt: now }, randomUUID(), now, []);
    const deviceId = await store.addDevice(userId, { name: 'ws', keys, expiresAt: null, credentialHashFor: () => randomUUID() }, now, []);
    return { userId, deviceId };
  }

  const envelope = (from: DeviceAddress, to: DeviceAddress, content = 'AAAA'): NewEnvelope => ({ id: randomUUID() as EnvelopeId, type: 'whisper', sender: from, recipient: to, content, acceptedAt: Date.now() });

  /** Enqueues through `through`, returning the outcomes and what the store said it committed (for the recipients `wanted`). */
  async function send(through: RelayStore, envelopes: readonly NewEnvelope[], limits: QueueLimits = ROOMY, wanted = (_recipient: DeviceAddress) => true): Promise<{ outcomes: string[]; committed: readonly CommittedEnvelope[] }> {
    let committed: readonly CommittedEnvelope[] = [];
    const outcomes = await through.enqueue(envelopes, accepted, limits, { wants: (recipient) => wanted(recipient), take: (queued) => (committed = queued) });
    return { outcomes, committed };
  }

  it('names each envelope with its position and the one before it in its queue (0: none)', async () => {
    const [alice, bob, carol] = [await account(), await account(), await account()];
    const first = await send(store, [envelope(alice, bob), envelope(alice, carol), envelope(alice, bob)]);
    const queued = await store.queued(bob, 0, 10);
    const [bob1, bob2] = queued;
    expect(first.committed.map((e) => [e.id, e.seq, e.after])).toEqual([
      [bob1!.id, bob1!.seq, 0],
      [first.committed[1]!.id, (await store.queued(carol, 0, 10))[0]!.seq, 0],
      [bob2!.id, bob2!.seq, bob1!.seq],
    ]);
    expect(first.committed.map((e) => [e.sender, e.recipient, e.content, e.type])).toEqual([[alice, bob, 'AAAA', 'whisper'], [alice, carol, 'AAAA', 'whisper'], [alice, bob, 'AAAA', 'whisper']]);
    // The first acknowledged: the next comes after the second, still queued; both acknowledged: after nothing.
    await store.acknowledge(bob, [bob1!.id], audited('envelope.delivered'));
    const second = await send(other, [envelope(carol, bob)]);
    expect(second.committed.map((e) => e.after)).toEqual([bob2!.seq]);
    await store.acknowledge(bob, [bob2!.id, second.committed[0]!.id], audited('envelope.delivered'));
    const third = await send(store, [envelope(carol, bob)]);
    expect(third.committed.map((e) => e.after)).toEqual([0]);
  });

  it('chains envelopes racing through two stores on one file as their queue holds them', async () => {
    const [alice, carol, bob] = [await account(), await account(), await account()];
    const sends = await Promise.all(Array.from({ length: 20 }, (_, i) => send(i % 2 === 0 ? store : other, [envelope(i % 4 < 2 ? alice : carol, bob), envelope(alice, carol)])));
    const toBob = sends.flatMap((s) => s.committed).filter((e) => e.recipient.userId === bob.userId).sort((a, b) => a.seq - b.seq);
    const queue = await store.queued(bob, 0, 100);
    expect(toBob.map((e) => e.id)).toEqual(queue.map((e) => e.id));
    expect(toBob.map((e) => e.after)).toEqual([0, ...queue.slice(0, -1).map((e) => e.seq)]);
  });

  it('names only the recipients asked for, and queues the others as usual', async () => {
    const [alice, bob, carol] = [await account(), await account(), await account()];
    const before = await send(store, [envelope(alice, bob), envelope(alice, carol)]);
    const onlyBob = await send(store, [envelope(alice, bob), envelope(alice, carol), envelope(alice, bob)], ROOMY, (recipient) => recipient.userId === bob.userId);
    expect(onlyBob.outcomes).toEqual(['queued', 'queued', 'queued']);
    const bobs = await store.queued(bob, 0, 10);
    expect(onlyBob.committed.map((e) => [e.id, e.after])).toEqual([[bobs[1]!.id, bobs[0]!.seq], [bobs[2]!.id, bobs[1]!.seq]]);
    expect((await store.queued(carol, 0, 10)).map((e) => e.id)).toEqual([before.committed[1]!.id, expect.any(String)]);
    expect((await send(store, [envelope(alice, carol)], ROOMY, () => false)).committed).toEqual([]);
  });

  it('leaves out what it did not queue: a refused envelope, a resend already queued', async () => {
    const [alice, bob] = [await account(), await account()];
    const kept = envelope(alice, bob);
    expect((await send(store, [kept])).committed).toHaveLength(1);
    const resend = await send(store, [kept]);
    expect(resend).toEqual({ outcomes: ['alreadyQueued'], committed: [] });
    const full = await send(store, [envelope(alice, bob)], { ...ROOMY, maxEnvelopes: 1 });
    expect(full).toEqual({ outcomes: ['queueFull'], committed: [] });
  });
});
