import { describe, expect, it } from 'vitest';
import { DEFAULT_ARGON2, PasswordHasher } from './passwords';

describe('PasswordHasher', () => {
  it('sheds checks past its bounded line at once with THROTTLED and a Retry-After, but never a proven workstation\'s', async () => {
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
});
