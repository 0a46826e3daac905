/**
 * The RelayStore contract (relayStoreContract.ts): attachment blobs (issue 20). An upload goes on from where
 * the stored bytes end, on either instance; a chunk at another offset is refused and changes nothing; an
 * account's blobs stay within its quota even when two uploads race on two instances; only the uploader's and
 * the readers' accounts may read; and a blob goes by retention, once every device it was for has fetched it
 * (after the grace period), or when its upload was abandoned, each deletion audited with its size.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { BlobService } from '../../server/BlobService';
import { DEFAULT_CONFIG } from '../../server/RelayConfig';
import type { BlobExpiry, NewBlob } from '../../server/storage/BlobStore';
import { MessageIdSchema, type DeviceAddress, type EnvelopeId } from '../../shared/ids';
import { HOUR, NOW, ROOMY, settled, type ContractStores } from './relayStoreStores';

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const newBlob = (owner: DeviceAddress, size: number, readers: DeviceAddress[] = [], expiresAt = NOW + 30 * 24 * HOUR): NewBlob => ({
  id: randomUUID(), owner, size, sha256: 'A'.repeat(43) + '=', readers: readers.map((r) => r.userId), createdAt: NOW, expiresAt,
});
const RULES: BlobExpiry = { now: NOW, fetchedGraceMs: 24 * HOUR, abandonedAfterMs: 24 * HOUR };

async function readAll(iterable: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of iterable) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

export function relayStoreBlobs(t: ContractStores): void {
  it('resumes an upload on the other instance from where the stored bytes end, and serves any range of it', async () => {
    const alice = await t.account();
    const blob = newBlob(alice, 10);
    expect(await t.store.blobs.createBlob(blob, 1000)).toBe(true);
    expect(await t.store.blobs.appendChunk(blob.id, 0, bytes(4, 1), NOW)).toBe(4);
    // A retry of the same chunk (its answer was lost) and a chunk past the end are refused, nothing written.
    expect(await t.other.blobs.appendChunk(blob.id, 0, bytes(4, 9), NOW)).toBe('mismatch');
    expect(await t.other.blobs.appendChunk(blob.id, 4, bytes(7, 2), NOW)).toBe('mismatch');
    expect((await t.other.blobs.blob(blob.id))?.received).toBe(4);
    expect(await t.other.blobs.appendChunk(blob.id, 4, bytes(6, 2), NOW)).toBe(10);
    await t.other.blobs.completeBlob(blob.id, NOW, [{ type: 'blob.stored', actor: 'contract', subject: blob.id, details: { size: 10 } }]);
    expect(await t.store.blobs.blob(blob.id)).toMatchObject({ size: 10, received: 10, completedAt: NOW, owner: alice });
    expect([...await readAll(t.store.blobs.readRange(blob.id, 0, 10))]).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 2, 2]);
    expect([...await readAll(t.other.blobs.readRange(blob.id, 3, 6))]).toEqual([1, 2, 2]);
    expect(await t.audit('blob.stored')).toEqual([['blob.stored', blob.id]]);
  });

  it('keeps an account within its quota, even with two uploads racing on two instances', async () => {
    const alice = await t.account();
    expect(await t.store.blobs.createBlob(newBlob(alice, 600), 1000)).toBe(true);
    expect(await t.other.blobs.createBlob(newBlob(alice, 500), 1000)).toBe(false);
    const bob = await t.account();
    const racing = await Promise.allSettled([0, 1, 2, 3].map((i) => t.either(i).blobs.createBlob(newBlob(bob, 400), 1000)));
    expect(settled(racing).fulfilled.filter(Boolean)).toHaveLength(2);
    expect(await t.other.blobs.bytesHeldBy(bob.userId)).toBe(800);
  });

  it('lets the uploader\'s account and the readers\' accounts read, and no one else', async () => {
    const [alice, bob, mallory] = [await t.account(), await t.account(), await t.account()];
    const blob = newBlob(alice, 1, [bob]);
    await t.store.blobs.createBlob(blob, 1000);
    expect(await t.other.blobs.mayRead(blob.id, bob)).toBe(true);
    expect(await t.other.blobs.mayRead(blob.id, { userId: alice.userId, deviceId: 99 as DeviceAddress['deviceId'] })).toBe(true);
    expect(await t.other.blobs.mayRead(blob.id, mallory)).toBe(false);
    expect(await t.other.blobs.mayRead(randomUUID(), bob)).toBe(false);
  });

  it('deletes blobs by retention, once every device fetched them and the grace passed, and abandoned uploads', async () => {
    const [alice, bob] = [await t.account(), await t.account()];
    const complete = async (blob: NewBlob) => {
      await t.store.blobs.createBlob(blob, 10_000);
      await t.store.blobs.appendChunk(blob.id, 0, bytes(blob.size, 7), NOW);
      await t.store.blobs.completeBlob(blob.id, NOW, []);
    };
    const expired = newBlob(alice, 5, [bob], NOW - 1);
    const fetched = newBlob(alice, 6, [bob]);
    const waiting = newBlob(alice, 7, [bob]);
    const abandoned = newBlob(alice, 8, [bob]);
    for (const blob of [expired, fetched, waiting]) await complete(blob);
    await t.store.blobs.createBlob(abandoned, 10_000);
    await t.other.blobs.recordFetch(fetched.id, bob, NOW, [{ type: 'blob.fetched', actor: 'contract', subject: fetched.id, details: {} }]);
    await t.other.blobs.recordFetch(fetched.id, bob, NOW + 1, [{ type: 'blob.fetched', actor: 'contract', subject: fetched.id, details: {} }]);
    expect(await t.audit('blob.fetched')).toEqual([['blob.fetched', fetched.id]]);

    // Within the grace period only the expired one goes.
    const reasons: string[] = [];
    const audit = (blob: { id: string; size: number }, reason: string) => {
      reasons.push(`${blob.size}:${reason}`);
      return { type: 'blob.deleted' as const, actor: 'system', subject: blob.id, details: { size: blob.size, reason } };
    };
    expect(await t.other.blobs.expireBlobs(RULES, audit)).toBe(1);
    const later = { ...RULES, now: NOW + 25 * HOUR };
    expect(await t.store.blobs.expireBlobs(later, audit)).toBe(2);
    expect(reasons).toEqual(['5:retention', '6:fetched', '8:abandoned']);
    expect(await t.store.blobs.blob(waiting.id)).toBeDefined();
    expect(await t.store.blobs.blob(fetched.id)).toBeUndefined();
    expect(await readAll(t.store.blobs.readRange(fetched.id, 0, 6))).toHaveLength(0);
    expect(await t.store.blobs.bytesHeldBy(alice.userId)).toBe(7);
    expect((await t.audit('blob.deleted')).map(([, subject]) => subject).sort()).toEqual([expired.id, fetched.id, abandoned.id].sort());
  });
  it('adds readers (never twice, never past the limit) on either instance, and a complete blob then waits for their fetches', async () => {
    const [alice, bob, carol, dave] = [await t.account(), await t.account(), await t.account(), await t.account()];
    const blob = newBlob(alice, 4, [bob]);
    await t.store.blobs.createBlob(blob, 1000);
    await t.store.blobs.appendChunk(blob.id, 0, bytes(4, 3), NOW);
    await t.store.blobs.completeBlob(blob.id, NOW, []);
    await t.store.blobs.recordFetch(blob.id, bob, NOW, []);
    const audit = (added: number) => [{ type: 'blob.readersAdded' as const, actor: 'contract', subject: blob.id, details: { readers: added } }];
    expect(await t.other.blobs.mayRead(blob.id, carol)).toBe(false);
    // Bob is one already: only Carol is new.
    expect(await t.other.blobs.addReaders(blob.id, [carol.userId, bob.userId, carol.userId], 10, NOW, audit)).toBe(1);
    expect(await t.store.blobs.addReaders(blob.id, [carol.userId], 10, NOW, audit)).toBe(0);
    expect(await t.store.blobs.addReaders(blob.id, [dave.userId], 2, NOW, audit)).toBe('tooMany');
    expect(await t.store.blobs.addReaders(randomUUID(), [dave.userId], 10, NOW, audit)).toBe(0);
    expect(await t.store.blobs.mayRead(blob.id, carol)).toBe(true);
    expect(await t.store.blobs.mayRead(blob.id, dave)).toBe(false);
    expect(await t.audit('blob.readersAdded')).toEqual([['blob.readersAdded', blob.id]]);
    // Bob fetched it long ago, but Carol's device has not yet: it stays.
    const later = { ...RULES, now: NOW + 25 * HOUR };
    expect(await t.store.blobs.expireBlobs(later, () => ({ type: 'blob.deleted', actor: 'system', subject: blob.id, details: {} }))).toBe(0);
    await t.other.blobs.recordFetch(blob.id, carol, NOW, []);
    expect(await t.store.blobs.expireBlobs(later, () => ({ type: 'blob.deleted', actor: 'system', subject: blob.id, details: {} }))).toBe(1);
  });

  it('removes the readers named for a stopped ladder alone that it never reached, and the blob then goes once the others fetched it', async () => {
    const [alice, bob, carol, dave, erin] = [await t.account(), await t.account(), await t.account(), await t.account(), await t.account()];
    const messageId = randomUUID();
    // Bob is the message's recipient; Carol, Dave and Erin only its rungs'. Erin is named again at release (a team's member).
    const blob = { ...newBlob(alice, 4, [bob]), ladder: { messageId, readers: [carol.userId, dave.userId, erin.userId] } };
    await t.store.blobs.createBlob(blob, 1000);
    await t.store.blobs.appendChunk(blob.id, 0, bytes(4, 3), NOW);
    await t.store.blobs.completeBlob(blob.id, NOW, []);
    expect(await t.other.blobs.mayRead(blob.id, carol)).toBe(true);
    await t.other.blobs.addReaders(blob.id, [erin.userId], 10, NOW, () => []);
    await t.store.blobs.recordFetch(blob.id, bob, NOW, []);
    const later = { ...RULES, now: NOW + 25 * HOUR };
    const deleted = (id: string) => () => ({ type: 'blob.deleted' as const, actor: 'system', subject: id, details: {} });
    // Waiting for the rungs' recipients' devices: it stays.
    expect(await t.store.blobs.expireBlobs(later, deleted(blob.id))).toBe(0);
    const audit = (blobId: string, removed: number) => ({ type: 'blob.readersRemoved' as const, actor: 'system', subject: blobId, details: { readers: removed } });
    // Another message's ladder, or another sender's, changes nothing.
    expect(await t.other.blobs.endLadderReaders(alice.userId, randomUUID(), [], audit)).toBe(0);
    expect(await t.other.blobs.endLadderReaders(bob.userId, messageId, [], audit)).toBe(0);
    // The ladder stopped after its first rung reached Dave: Carol goes; Dave and Erin stay readers.
    expect(await t.other.blobs.endLadderReaders(alice.userId, messageId, [dave.userId], audit)).toBe(1);
    expect(await t.store.blobs.mayRead(blob.id, carol)).toBe(false);
    expect(await t.store.blobs.mayRead(blob.id, dave)).toBe(true);
    expect(await t.store.blobs.mayRead(blob.id, erin)).toBe(true);
    expect(await t.store.blobs.mayRead(blob.id, bob)).toBe(true);
    expect(await t.audit('blob.readersRemoved')).toEqual([['blob.readersRemoved', blob.id]]);
    // Ended once: a second end removes nothing more.
    expect(await t.store.blobs.endLadderReaders(alice.userId, messageId, [], audit)).toBe(0);
    expect(await t.store.blobs.mayRead(blob.id, dave)).toBe(true);
    // It goes once those who got the message fetched it (after the grace period), never waiting for Carol.
    expect(await t.store.blobs.expireBlobs(later, deleted(blob.id))).toBe(0);
    await t.store.blobs.recordFetch(blob.id, dave, NOW, []);
    await t.store.blobs.recordFetch(blob.id, erin, NOW, []);
    expect(await t.other.blobs.expireBlobs(later, deleted(blob.id))).toBe(1);
  });

  it('lists the stopped ladders whose blobs still name their readers, and housekeeping ends them', async () => {
    const [alice, bob, carol, dave] = [await t.account(), await t.account(), await t.account(), await t.account()];
    const messageId = MessageIdSchema.parse(randomUUID());
    // alice's urgent message to bob; its ladder reaches carol after 5 minutes, dave after 10; the file names both.
    const blob = { ...newBlob(alice, 4, [bob]), ladder: { messageId, readers: [carol.userId, dave.userId] } };
    await t.store.blobs.createBlob(blob, 1000);
    const envelope = (to: DeviceAddress) => ({ id: randomUUID() as EnvelopeId, type: 'prekey' as const, recipient: to, content: 'AAAA' });
    const escalationId = randomUUID();
    await t.store.escalations.hold({
      id: escalationId, messageId, sender: alice, recipients: [bob.userId], createdAt: NOW,
      rungs: [{ dueAt: NOW + 5 * 60_000, recipients: [carol.userId], envelopes: [envelope(carol)] }, { dueAt: NOW + 10 * 60_000, recipients: [dave.userId], envelopes: [envelope(dave)] }],
    }, { queue: ROOMY, maxLaddersPerAccount: 100, maxHeldBytesPerAccount: 1 << 30 }, [], () => ({ type: 'escalation.cancelled', actor: 'contract', subject: escalationId, details: {} }));
    await t.store.escalations.releaseDue(NOW + 6 * 60_000, 10, (r) => ({ type: 'escalation.released', actor: 'system', subject: r.escalationId, details: {} }));
    // Going on: nothing to end yet.
    expect(await t.other.blobs.endedLadders()).toEqual([]);
    const at = NOW + 7 * 60_000;
    await t.other.escalations.acknowledge({ messageId, sender: alice.userId, acknowledger: bob, acknowledgedAt: at, signature: 'A'.repeat(86) + '==', recordedAt: at },
      () => [], () => ({ type: 'escalation.cancelled', actor: 'contract', subject: escalationId, details: {} }));
    // Stopped, but its readers not removed (the listener failed): listed, with carol reached.
    expect(await t.store.blobs.endedLadders()).toEqual([{ owner: alice.userId, messageId, released: [carol.userId] }]);
    // The hourly housekeeping ends it: dave (never reached) goes, carol stays, audited.
    await new BlobService(t.other.blobs, { now: () => at }, DEFAULT_CONFIG.blobs, DEFAULT_CONFIG.retentionDays).expire();
    expect(await t.store.blobs.endedLadders()).toEqual([]);
    expect(await t.audit('blob.readersRemoved')).toEqual([['blob.readersRemoved', blob.id]]);
    expect(await t.store.blobs.mayRead(blob.id, dave)).toBe(false);
    expect(await t.store.blobs.mayRead(blob.id, carol)).toBe(true);
  });
}
