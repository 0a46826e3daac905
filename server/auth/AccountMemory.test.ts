import { describe, expect, it } from 'vitest';
import type { UserId } from '../../shared/ids';
import { AccountMemory } from './AccountMemory';

const alice = 'a0000000-0000-4000-8000-000000000001' as UserId;
const bob = 'b0000000-0000-4000-8000-000000000002' as UserId;

describe('what the relay remembers of an account between requests', () => {
  it('keeps an answer until its time, per account and key', () => {
    const memory = new AccountMemory<string>(10);
    memory.set(alice, 'devices', 'one', 1000, memory.generation(alice));
    expect(memory.get(alice, 'devices', 999)).toBe('one');
    expect(memory.get(alice, 'devices', 1000)).toBeUndefined();
    expect(memory.get(bob, 'devices', 0)).toBeUndefined();
  });

  it('does not remember an answer read before the account was forgotten (a sign-in raced the read)', () => {
    const memory = new AccountMemory<string>(10);
    const before = memory.generation(alice);
    // The device list is read; meanwhile the control event of a new device is applied...
    memory.forget(alice);
    // ...and the read's old answer arrives: it is not kept, so the next send reads the new list.
    memory.set(alice, 'devices', 'without the new device', 10_000, before);
    expect(memory.get(alice, 'devices', 0)).toBeUndefined();
    // A read started after the event is kept; another account's forget changes nothing for it.
    memory.set(alice, 'devices', 'with it', 10_000, memory.generation(alice));
    const bobBefore = memory.generation(bob);
    memory.forget(alice);
    memory.set(bob, 'devices', 'bob', 10_000, bobBefore);
    expect(memory.get(bob, 'devices', 0)).toBe('bob');
    expect(memory.get(alice, 'devices', 0)).toBeUndefined();
  });

  it('forgets everything, and every read under way, after news may have been missed; stays within its size', () => {
    const memory = new AccountMemory<number>(3);
    const before = memory.generation(bob);
    memory.set(alice, 'k', 1, 10_000, memory.generation(alice));
    memory.forgetAll();
    memory.set(bob, 'k', 2, 10_000, before);
    expect([memory.get(alice, 'k', 0), memory.get(bob, 'k', 0)]).toEqual([undefined, undefined]);
    for (let i = 0; i < 5; i++) memory.set(alice, `k${i}`, i, 10_000, memory.generation(alice));
    // Full at three: the fourth cleared it; what is kept is at most three.
    expect([0, 1, 2, 3, 4].filter((i) => memory.get(alice, `k${i}`, 0) !== undefined).length).toBeLessThanOrEqual(3);
    expect(memory.get(alice, 'k4', 0)).toBe(4);
  });
});
