import { describe, expect, it } from 'vitest';
import { GroupCommit } from './GroupCommit';

/** A group commit over a fake transaction log: each write is one "transaction" of the items it got. */
function recorder(fails: (item: string) => boolean = () => false) {
  const transactions: string[][] = [];
  let attempts = 0;
  const commit = new GroupCommit<string, string>((items) => {
    attempts++;
    if (items.includes('busy')) throw Object.assign(new Error('database is locked'), { wholeDatabase: true });
    if (items.some(fails)) throw new Error(`cannot write ${items.find(fails)}`);
    transactions.push([...items]);
    return items.map((item) => `${item}:done`);
  }, { soonMs: 30, retryAlone: (error, item) => !(error as { wholeDatabase?: boolean }).wholeDatabase && item.startsWith('ack') });
  return { commit, transactions, attempts: () => attempts };
}

describe('GroupCommit', () => {
  it('writes what one turn of the event loop hands in as one transaction, each caller getting its own result', async () => {
    const { commit, transactions } = recorder();
    const results = await Promise.all(['a', 'b', 'c'].map((item) => commit.add(item)));
    expect(results).toEqual(['a:done', 'b:done', 'c:done']);
    expect(transactions).toEqual([['a', 'b', 'c']]);
  });

  it('lets an acknowledgement ride along with the next send instead of committing on its own', async () => {
    const { commit, transactions } = recorder();
    const ack = commit.add('ack', 'soon');
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(transactions).toEqual([]);
    await Promise.all([commit.add('send'), ack]);
    expect(transactions).toEqual([['ack', 'send']]);
  });

  it('writes an acknowledgement on its own once nothing urgent came within soonMs', async () => {
    const { commit, transactions } = recorder();
    const started = Date.now();
    await expect(commit.add('ack', 'soon')).resolves.toBe('ack:done');
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(transactions).toEqual([['ack']]);
  });

  it('on a failure, writes again once the items that may go alone (the acknowledgements), and fails the rest', async () => {
    const { commit, transactions, attempts } = recorder((item) => item.startsWith('send'));
    const items = ['send1', 'ack1', 'send2', 'ack2'];
    const outcomes = await Promise.allSettled(items.map((item) => commit.add(item)));
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual(['cannot write send1', 'ack1:done', 'cannot write send1', 'ack2:done']);
    expect(transactions).toEqual([['ack1', 'ack2']]);
    expect(attempts()).toBe(2);
  });

  it('tries once more at most, however many items fail', async () => {
    const { commit, attempts } = recorder(() => true);
    const outcomes = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => commit.add(`ack${i}`)));
    expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);
    // All were acknowledgements: nothing to write without the rest, so no second attempt.
    expect(attempts()).toBe(1);
  });

  it('a failure of the whole database fails the batch at once, without a retry per item', async () => {
    const { commit, transactions, attempts } = recorder();
    const outcomes = await Promise.allSettled(['a', 'busy', 'b', 'c'].map((item) => commit.add(item)));
    expect(outcomes.every((o) => o.status === 'rejected' && (o.reason as Error).message === 'database is locked')).toBe(true);
    expect(transactions).toEqual([]);
    expect(attempts()).toBe(1);
  });

  it('drain writes what waits at once (shutdown does not lose an acknowledgement)', async () => {
    const { commit, transactions } = recorder();
    const ack = commit.add('ack', 'soon');
    await commit.drain();
    expect(transactions).toEqual([['ack']]);
    await expect(ack).resolves.toBe('ack:done');
  });

  it('with an asynchronous write, gathers what arrives while a batch is in flight into the next, and drain waits for both', async () => {
    const batches: string[][] = [];
    const releases: (() => void)[] = [];
    const commit = new GroupCommit<string, string>((items) => {
      batches.push([...items]);
      return new Promise((resolve) => releases.push(() => resolve(items.map((i) => `${i}:done`))));
    });
    const first = commit.add('a');
    await new Promise((resolve) => setImmediate(resolve));
    const later = ['b', 'c', 'd'].map((item) => commit.add(item));
    await new Promise((resolve) => setImmediate(resolve));
    // One batch in flight (the default): b, c and d wait for it rather than each starting a transaction.
    expect(batches).toEqual([['a']]);
    releases.shift()?.();
    await expect(first).resolves.toBe('a:done');
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([['a'], ['b', 'c', 'd']]);
    const drained = commit.drain();
    releases.shift()?.();
    await drained;
    await expect(Promise.all(later)).resolves.toEqual(['b:done', 'c:done', 'd:done']);
  });

  it('with an asynchronous write that fails, rejects its batch and goes on with the next', async () => {
    let calls = 0;
    const commit = new GroupCommit<string, string>(async (items) => {
      calls++;
      if (calls === 1) throw new Error('connection lost');
      return items.map((i) => `${i}:done`);
    });
    await expect(commit.add('a')).rejects.toThrow('connection lost');
    await expect(commit.add('b')).resolves.toBe('b:done');
  });
});
