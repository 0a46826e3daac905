import { rateLimiterContract } from '../test/contract/rateLimiterContract';
import { InMemoryRateLimiter } from './RateLimiter';

rateLimiterContract('in memory', async () => {
  const limiter = new InMemoryRateLimiter();
  return {
    limiter,
    // One relay process: its buckets are all there are.
    another: async () => limiter,
    bucketCount: async () => limiter.bucketCount,
    dispose: async () => undefined,
  };
});
