import { afterAll, describe, it } from 'vitest';
import { relayStoreContract } from '../../../test/contract/relayStoreContract';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../../test/fixtures/postgres';
import { systemClock } from '../../Clock';
import { PostgresDatabase } from './PostgresDatabase';
import { PostgresRelayStore } from './PostgresRelayStore';

/*
 * The RelayStore contract (test/contract/relayStoreContract.ts) on PostgreSQL: each test a new database, and two
 * stores on it (two relay instances). The migrations run once, into a database each test's is a copy of
 * (CREATE DATABASE … TEMPLATE): 96 runs of them took ~0.35 s a test; each test still migrates its own (a no-op).
 */
const unavailable = postgresUnavailable();
let server: Promise<TestPostgres> | undefined;
let migrated: Promise<string> | undefined;
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
    migrated ??= (async () => {
      const template = await pg.newDatabase();
      const db = PostgresDatabase.connect({ url: template, password: pg.password });
      await db.migrate();
      await db.close();
      return template;
    })();
    const url = await pg.newDatabase({ template: await migrated });
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
