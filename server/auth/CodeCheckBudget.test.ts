import { describe, expect, it } from 'vitest';
import { CodeCheckBudget } from './CodeCheckBudget';

const FIVE_MINUTES = 5 * 60_000;

describe('the budget of code checks from addresses that must wait', () => {
  it('allows a burst of checks per account, then one per interval', () => {
    const budget = new CodeCheckBudget(FIVE_MINUTES, 3);
    const t0 = Date.UTC(2026, 11, 2, 9);
    expect([1, 2, 3].map(() => budget.take('account:alice', t0))).toEqual([undefined, undefined, undefined]);
    expect(budget.take('account:alice', t0)).toBe(FIVE_MINUTES);
    expect(budget.take('account:alice', t0 + FIVE_MINUTES - 1)).toBe(1);
    expect(budget.take('account:alice', t0 + FIVE_MINUTES)).toBeUndefined();
    expect(budget.take('account:alice', t0 + FIVE_MINUTES)).toBe(FIVE_MINUTES);
  });

  it('a flood of made-up names does not refill an account whose budget is spent', () => {
    // A small table, so the flood is many times its size (a map that evicted its oldest keys would forget Alice).
    const budget = new CodeCheckBudget(FIVE_MINUTES, 3, 1024);
    const t0 = Date.UTC(2026, 11, 2, 9);
    for (let i = 0; i < 3; i++) budget.take('account:alice', t0);
    for (let i = 0; i < 50_000; i++) budget.take(`username:made-up-${i}`, t0 + 1);
    expect(budget.take('account:alice', t0 + 2)).toBeGreaterThan(0);
  });
});
