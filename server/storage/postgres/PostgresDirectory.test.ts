import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../../test/fixtures/postgres';
import { systemClock } from '../../Clock';
import { POSTGRES_MIGRATIONS } from './migrations';
import { PostgresDatabase } from './PostgresDatabase';
import { PostgresRelayStore } from './PostgresRelayStore';

/*
 * A site's database from before the directory (schema 4) migrated to this one: its accounts keep working,
 * come out as made by hand ('admin', no externalId), and the directory search finds them, their search
 * text filled when the store first opens (with case and accents folded as the store folds them).
 */
const unavailable = postgresUnavailable();

describe.skipIf(unavailable !== null)('the PostgreSQL directory after the migration', () => {
  let pg: TestPostgres;

  beforeAll(async () => {
    pg = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await pg?.stop();
  });

  it('finds the accounts of a database from before the directory', async () => {
    const db = PostgresDatabase.connect({ url: await pg.newDatabase(), password: pg.password });
    await db.migrate(POSTGRES_MIGRATIONS.filter((m) => m.version <= 4));
    await db.pool.query(`INSERT INTO users (id, username, display_name, role, status, created_at, last_active_at) VALUES ('00000000-0000-4000-8000-000000000001', 'emuller', 'Émile Müller', 'clinician', 'active', 0, 0)`);
    await db.migrate();
    const store = await PostgresRelayStore.open(db, systemClock);
    try {
      expect(await store.userByUsername('emuller')).toMatchObject({ source: 'admin', externalId: null, department: null, jobTitle: null, contact: null, deactivatedBySource: null });
      expect((await store.searchDirectory('emile muller', 10)).map((u) => u.username)).toEqual(['emuller']);
    } finally {
      await store.close();
    }
  });
});
