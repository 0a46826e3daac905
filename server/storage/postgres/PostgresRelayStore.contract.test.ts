import { afterAll, describe, it } from 'vitest';
import { relayStoreContract } from '../../../test/contract/relayStoreContract';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../../test/fixtures/postgres';
import { systemClock } from '../../Clock';
import { PostgresDatabase } from './PostgresDatabase';
import { PostgresRelayStore } from './PostgresRelayStore';

/* The RelayStore contract (test/contract/relayStoreContract.ts) on PostgreSQL: each test a new database, and two stores on it (two relay instances). */
const unavailable = postgresUnavailable();
let server: Promise<TestPostgres> | undefined;
afterAll(async () => {
  await (await server)?.stop();
});

if (unavailable) {
  describe('RelayStore contract: PostgreSQL', () => {
    it.skip(`skipped: ${unavailable}`, () => undefined);
  });
  console.log(`PostgreSQL RelayStore contract skipped: ${unavailable}`);
} else {
  relayStoreContract('PostgreSQL', async () => {
    const pg = await (server ??= startPostgres());
    const url = await pg.newDatabase();
    const connect = async () => PostgresRelayStore.open(PostgresDatabase.connect({ url, password: pg.password }), systemClock);
    const first = PostgresDatabase.connect({ url, password: pg.password });
    await first.migrate();
    const stores = [await PostgresRelayStore.open(first, systemClock)];
    return {
      store: stores[0]!,
      another: async () => {
        const second = await connect();
        stores.push(second);
        return second;
      },
      dispose: async () => {
        for (const store of stores) await store.close();
      },
    };
  });
}
