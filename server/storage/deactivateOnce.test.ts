import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { UserIdSchema } from '../../shared/ids';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../test/fixtures/postgres';
import { removeDir, tempDataDir } from '../../test/fixtures/relayProcess';
import { systemClock } from '../Clock';
import { openStore } from '../RelayServer';
import { PostgresDatabase } from './postgres/PostgresDatabase';
import { PostgresRelayStore } from './postgres/PostgresRelayStore';
import type { RelayStore } from './RelayStore';

/*
 * Every relay instance runs the hourly housekeeping that deactivates idle accounts: two of them deactivating
 * one account at once must record it once (one audit record, one control event), on either store.
 */
let pg: TestPostgres | undefined;
afterAll(async () => {
  await pg?.stop();
});

async function deactivatedTwice(first: RelayStore, second: RelayStore): Promise<{ records: number; events: number }> {
  const id = UserIdSchema.parse(randomUUID());
  await first.createUser({ id, username: `idle-${id.slice(0, 8)}`, displayName: 'Idle', role: 'clinician', status: 'active', createdAt: 0, lastActiveAt: 0 }, randomUUID(), 1, []);
  const audit = [{ type: 'account.deactivated' as const, actor: 'system', subject: id, details: { reason: 'unused for 90 days' } }];
  await Promise.all([first.deactivateUser(id, 10, audit), second.deactivateUser(id, 11, audit)]);
  const records = (await first.auditRecordsAfter(0, 100)).filter((r) => r.type === 'account.deactivated' && r.subject === id).length;
  const events = (await first.controlEvents(0)).filter((e) => e.userId === id).length;
  expect((await first.userById(id))?.status).toBe('deactivated');
  return { records, events };
}

describe('an account deactivated by two relays at once', () => {
  it('is recorded once on SQLite', async () => {
    const dir = tempDataDir();
    const [a, b] = [openStore(dir), openStore(dir)];
    try {
      expect(await deactivatedTwice(a, b)).toEqual({ records: 1, events: 1 });
    } finally {
      await a.close();
      await b.close();
      removeDir(dir);
    }
  });

  it.skipIf(postgresUnavailable() !== null)('is recorded once on PostgreSQL', async () => {
    pg = await startPostgres();
    const url = await pg.newDatabase();
    const first = PostgresDatabase.connect({ url, password: pg.password });
    await first.migrate();
    const [a, b] = [await PostgresRelayStore.open(first, systemClock), await PostgresRelayStore.open(PostgresDatabase.connect({ url, password: pg.password }), systemClock)];
    try {
      expect(await deactivatedTwice(a, b)).toEqual({ records: 1, events: 1 });
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);
});
