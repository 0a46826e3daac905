import { describe, expect, it } from 'vitest';
import { AnnouncedKeys } from './AnnouncedKeys';

describe('what the window has announced in a profile\'s session', () => {
  it('answers each key as fresh once, through any number of asks', () => {
    const announced = new AnnouncedKeys();
    expect(announced.take('p1', ['m1 bob 1', 'm1 bob 1', 'm2 carol 2'])).toEqual(['m1 bob 1', 'm2 carol 2']);
    expect(announced.take('p1', ['m1 bob 1', 'm2 carol 2'])).toEqual([]);
    expect(announced.take('p1', ['m1 bob 1', 'm1 dev 3'])).toEqual(['m1 dev 3']);
  });

  it('starts anew for another profile, and after switch user', () => {
    const announced = new AnnouncedKeys();
    announced.take('p1', ['m1 bob 1']);
    expect(announced.take('p2', ['m1 bob 1'])).toEqual(['m1 bob 1']);
    expect(announced.take('p2', ['m1 bob 1'])).toEqual([]);
    announced.forget();
    expect(announced.take('p2', ['m1 bob 1'])).toEqual(['m1 bob 1']);
  });

  it('remembers the last 10,000 keys of a long session, forgetting the oldest first', () => {
    const announced = new AnnouncedKeys();
    for (let i = 0; i < 10_050; i += 50) announced.take('p1', Array.from({ length: 50 }, (_, j) => `k${i + j}`));
    expect(announced.take('p1', ['k0', 'k49'])).toEqual(['k0', 'k49']);
    expect(announced.take('p1', ['k10049', 'k5000'])).toEqual([]);
  });
});
