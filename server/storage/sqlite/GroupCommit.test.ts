import { describe, expect, it } from 'vitest';
import { GroupCommit } from './GroupCommit';

/** A group commit over a fake transaction log: each write is one "transaction" of the items it got. */
function recorder(fails: (item: string) => boolean = () => false) {
  const transactions: string[][] = [];
  const commit = new GroupCommit<string, string>((items) => {
    if (items.some(fails)) throw new Error(`cannot write ${items.find(fails)}`);
    transactions.push([...items]);
    return items.map((item) => `${item}:done`);
  }, { soonMs: 30 });
  return { commit, transactions };
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

  it('a write that fails fails alone: the rest of its batch is written again, each on its own', async () => {
    const { commit, transactions } = recorder((item) => item === 'bad');
    const outcomes = await Promise.allSettled([commit.add('ack', 'soon'), commit.add('bad'), commit.add('good')]);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual(['ack:done', 'cannot write bad', 'good:done']);
    expect(transactions).toEqual([['ack'], ['good']]);
  });

  it('drain writes what waits at once (shutdown does not lose an acknowledgement)', async () => {
    const { commit, transactions } = recorder();
    const ack = commit.add('ack', 'soon');
    await commit.drain();
    expect(transactions).toEqual([['ack']]);
    await expect(ack).resolves.toBe('ack:done');
  });
});
