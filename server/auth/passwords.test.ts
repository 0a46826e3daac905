import { describe, expect, it } from 'vitest';
import { MAX_URGENT_WAITING, PasswordHasher } from './passwords';
import { DEFAULT_ARGON2 } from './argon2Params';

describe('PasswordHasher', () => {
  it('sheds checks past its bounded line at once with THROTTLED and a Retry-After, but not a proven workstation\'s', async () => {
    const hasher = new PasswordHasher({ ...DEFAULT_ARGON2, memoryKiB: 8192 }, 2);
    const hash = await hasher.hash('the one right password');
    // Four run, two wait, the other fourteen are turned away before any of the first six finishes.
    const settled: string[] = [];
    const checks = Array.from({ length: 20 }, (_, i) => hasher.verify(hash, `guess ${i}`).then(
      () => settled.push('checked'),
      (error: { code: string; extra: { retryAfterSeconds?: number } }) => settled.push(`${error.code} ${error.extra.retryAfterSeconds! >= 1}`),
    ));
    const urgent = hasher.verify(hash, 'the one right password', { urgent: true });
    await Promise.all(checks);
    expect(settled.slice(0, 14)).toEqual(Array.from({ length: 14 }, () => 'THROTTLED true'));
    expect(settled.slice(14)).toEqual(Array.from({ length: 6 }, () => 'checked'));
    await expect(urgent).resolves.toBe(true);
    // Once the line has drained, checks are accepted again.
    await expect(hasher.verify(hash, 'the one right password')).resolves.toBe(true);
  });

  it('lets only MAX_URGENT_WAITING proven workstations\' checks jump the line: past that they queue, and are shed, like any other', async () => {
    const hasher = new PasswordHasher({ ...DEFAULT_ARGON2, memoryKiB: 8192 }, 2);
    const hash = await hasher.hash('the one right password');
    const settled: string[] = [];
    const track = (label: string, check: Promise<boolean>) => check.then(() => settled.push(label), (error: { code: string }) => settled.push(`${label} ${error.code}`));
    // Four checks hold the slots; then more urgent ones arrive at once than the front of the line takes.
    const running = Array.from({ length: 4 }, (_, i) => track(`ordinary ${i}`, hasher.verify(hash, `guess ${i}`)));
    const count = MAX_URGENT_WAITING + 3;
    const urgent = Array.from({ length: count }, (_, i) => track(`urgent ${i}`, hasher.verify(hash, `urgent guess ${i}`, { urgent: true })));
    await Promise.all([...running, ...urgent]);
    // MAX_URGENT_WAITING wait at the front, two more in the ordinary line (its limit here), and the last is turned away at once.
    expect(settled[0]).toBe(`urgent ${count - 1} THROTTLED`);
    expect(settled.filter((s) => s.includes('THROTTLED'))).toEqual([`urgent ${count - 1} THROTTLED`]);
  });
});
