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
  }, { soonMs: 30, retryApart: (error) => !(error as { wholeDatabase?: boolean }).wholeDatabase });
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

  it('a write that fails fails alone: the rest of its batch is written again, in halves', async () => {
    const { commit, transactions, attempts } = recorder((item) => item === 'bad');
    const items = ['a1', 'a2', 'a3', 'bad', 'b1', 'b2', 'b3', 'b4'];
    const outcomes = await Promise.allSettled(items.map((item) => commit.add(item)));
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message)))
      .toEqual(['a1:done', 'a2:done', 'a3:done', 'cannot write bad', 'b1:done', 'b2:done', 'b3:done', 'b4:done']);
    expect(transactions).toEqual([['a1', 'a2'], ['a3'], ['b1', 'b2', 'b3', 'b4']]);
    // The whole batch, each half, the failing half's halves, and the failing quarter's: 7, not one commit per item and more.
    expect(attempts()).toBe(7);
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
});
