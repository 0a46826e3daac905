import { describe, expect, it } from 'vitest';
import { notReadyReason } from './Readiness';

const storeSaying = (notReady: () => Promise<string | undefined>) => ({ notReady });
const running = () => false;

describe('notReadyReason: what /readyz tells a load balancer', () => {
  it('is ready when the store can serve and the relay is not stopping', async () => {
    expect(await notReadyReason(storeSaying(async () => undefined), running)).toBeUndefined();
  });

  it('is not ready while the relay shuts down, whatever the store says', async () => {
    expect(await notReadyReason(storeSaying(async () => undefined), () => true)).toBe('the relay is shutting down');
  });

  it("passes on the store's own reason", async () => {
    expect(await notReadyReason(storeSaying(async () => 'the schema is at version 7; this relay knows 6'), running)).toBe('the schema is at version 7; this relay knows 6');
  });

  it('names a failing check by its code only: the public endpoint does not repeat where the database is', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.20.0.5:5432'), { code: 'ECONNREFUSED' });
    const reason = await notReadyReason(storeSaying(() => Promise.reject(refused)), running);
    expect(reason).toBe("the store's readiness check failed (ECONNREFUSED)");
    expect(reason).not.toContain('10.20.0.5');
  });

  it('gives up on a store that does not answer within the deadline', async () => {
    expect(await notReadyReason(storeSaying(() => new Promise(() => undefined)), running, 20)).toBe('the store did not answer within 20 ms');
  });
});
