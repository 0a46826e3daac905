import { describe, expect, it } from 'vitest';
import type { DeviceAddress, DeviceId, EnvelopeId, UserId } from '../../shared/ids';
import { QueueReadsOfTurn, type QueueRead } from './queueReads';
import type { StoredEnvelope } from './RelayStore';

const device = (n: number): DeviceAddress => ({ userId: `user-${n}` as UserId, deviceId: 1 as DeviceId });
const envelopeFor = (read: QueueRead): StoredEnvelope => ({
  seq: read.afterSeq + 1, id: `${read.recipient.userId}-next` as EnvelopeId, type: 'whisper', content: 'AAAA', acceptedAt: 1,
  sender: device(0), recipient: read.recipient,
});

describe('queue reads of one turn', () => {
  it('answers a turn\'s reads in one statement, each its own page, in the order asked', async () => {
    const statements: QueueRead[][] = [];
    const reads = new QueueReadsOfTurn<'db'>((_db, _pageSize, group) => {
      statements.push([...group]);
      return group.map((read) => [envelopeFor(read)]);
    });
    const pages = await Promise.all([1, 2, 3].map((n) => reads.read('db', device(n), n * 10, 100)));
    expect(statements).toHaveLength(1);
    expect(pages.map((page) => page.map((e) => [e.recipient.userId, e.seq]))).toEqual([[['user-1', 11]], [['user-2', 21]], [['user-3', 31]]]);
  });

  it('keeps the envelopes one statement may bring bounded: many full pages take several statements', async () => {
    const sizes: number[] = [];
    const reads = new QueueReadsOfTurn<'db'>((_db, _pageSize, group) => {
      sizes.push(group.length);
      return group.map(() => []);
    });
    await Promise.all(Array.from({ length: 120 }, (_, n) => reads.read('db', device(n), 0, 100)));
    expect(sizes).toEqual([50, 50, 20]);
  });

  it('when the statement fails, tries each read alone: only the read that fails again is refused', async () => {
    const reads = new QueueReadsOfTurn<'db'>((_db, _pageSize, group) => {
      if (group.some((read) => read.recipient.userId === 'user-2')) throw new Error('statement timeout');
      return group.map((read) => [envelopeFor(read)]);
    });
    const outcomes = await Promise.allSettled([1, 2, 3].map((n) => reads.read('db', device(n), 0, 10)));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toEqual(new Error('statement timeout'));
    expect((outcomes[0] as PromiseFulfilledResult<StoredEnvelope[]>).value.map((e) => e.recipient.userId)).toEqual(['user-1']);
  });

  it('flush answers what was asked before it resolves (a store drains its reads before it closes)', async () => {
    let answered = 0;
    const reads = new QueueReadsOfTurn<'db'>(async (_db, _pageSize, group) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      answered += group.length;
      return group.map(() => []);
    });
    const pending = reads.read('db', device(1), 0, 10);
    await reads.flush();
    expect(answered).toBe(1);
    await expect(pending).resolves.toEqual([]);
  });
});
