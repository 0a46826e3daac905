import { afterAll, beforeAll, describe, it } from 'vitest';
import { rateLimiterContract } from '../../../test/contract/rateLimiterContract';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../../test/fixtures/postgres';
import { PostgresDatabase } from './PostgresDatabase';
import { PostgresRateLimiter } from './PostgresRateLimiter';

/* The RateLimiter contract (test/contract/rateLimiterContract.ts) on PostgreSQL: each test a new database, and two pools on it (two relay instances). */
const unavailable = postgresUnavailable();

if (unavailable !== null) {
  describe('RateLimiter contract: PostgreSQL', () => {
    it.skip(`skipped: ${unavailable}`, () => undefined);
  });
  console.log(`PostgreSQL RateLimiter contract skipped: ${unavailable}`);
} else {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  // Each test has a database of its own, seen through two pools: two relay instances.
  rateLimiterContract('PostgreSQL', async () => {
    const url = await server.newDatabase();
    const instances = [PostgresDatabase.connect({ url, password: server.password })];
    await instances[0]!.migrate();
    return {
      limiter: new PostgresRateLimiter(instances[0]!),
      another: async () => {
        const second = PostgresDatabase.connect({ url, password: server.password });
        instances.push(second);
        return new PostgresRateLimiter(second);
      },
      bucketCount: async () => Number((await instances[0]!.pool.query<{ n: string }>('SELECT count(*) AS n FROM rate_buckets')).rows[0]?.n),
      dispose: async () => {
        await Promise.all(instances.map((db) => db.close()));
      },
    };
  });
}
