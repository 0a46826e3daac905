import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserIdSchema, type DeviceId } from '../../../shared/ids';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../../test/fixtures/postgres';
import { systemClock } from '../../Clock';
import { PostgresDatabase } from './PostgresDatabase';
import { PostgresRelayStore } from './PostgresRelayStore';

/*
 * What only the PostgreSQL store has to get right (the contract suite holds the rest): a lost workstation's
 * full queue (the 50,000-envelope limit) is deleted by its revocation within the statement timeout's reach,
 * and a large backlog expires in slices, each audited with its count.
 */
const unavailable = postgresUnavailable();

describe.skipIf(unavailable !== null)('the PostgreSQL store with full queues', () => {
  let pg: TestPostgres;
  let db: PostgresDatabase;
  let store: PostgresRelayStore;

  beforeAll(async () => {
    pg = await startPostgres();
    db = PostgresDatabase.connect({ url: await pg.newDatabase(), password: pg.password });
    await db.migrate();
    store = await PostgresRelayStore.open(db, systemClock);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await pg?.stop();
  });

  /** An active account with one device and `count` envelopes queued for it, `acceptedAt` 1..count. */
  async function fullQueue(count: number): Promise<string> {
    const userId = UserIdSchema.parse(randomUUID());
    await db.pool.query(`INSERT INTO users (id, username, display_name, role, status, created_at, last_active_at) VALUES ($1, $1, 'Lost', 'clinician', 'active', 0, 0)`, [userId]);
    await db.pool.query(`INSERT INTO devices (user_id, device_id, name, credential_hash, created_at, last_seen_at, registration_id, identity_key, signed_prekey, last_resort_kyber) VALUES ($1, 1, 'ws', 'h', 0, 0, 1, 'k', 's', 'q')`, [userId]);
    // Filled in slices: each is one statement, inside the statement timeout.
    for (let from = 1; from <= count; from += 5000) {
      await db.pool.query(
        `INSERT INTO envelopes (id, recipient_user, recipient_device, sender_user, sender_device, type, content, accepted_at)
         SELECT gen_random_uuid()::text, $1, 1, 'sender', 1, 'whisper', repeat('A', 700), n FROM generate_series($2::int, $3::int) AS n`, [userId, from, Math.min(count, from + 4999)]);
    }
    return userId;
  }

  it('revokes a workstation whose queue is full, deleting it and its counters in one transaction', async () => {
    const userId = UserIdSchema.parse(await fullQueue(50_000));
    expect(await store.queuedTotal()).toBe(50_000);
    await store.revokeDevice(userId, 1 as DeviceId, 10, [{ type: 'device.revoked', actor: 'admin:it', subject: `${userId}.1`, details: {} }]);
    expect(await store.queuedTotal()).toBe(0);
    expect((await store.device(userId, 1 as DeviceId))?.revokedAt).toBe(10);
    expect((await db.pool.query('SELECT count(*) AS n FROM queue_shares')).rows[0]).toEqual({ n: '0' });
  }, 120_000);

  it('expires a large backlog in slices, each audited with its count', async () => {
    await fullQueue(12_000);
    const expired = await store.expireEnvelopes(10_001, (count) => ({ type: 'envelope.expired', actor: 'system', subject: '', details: { count } }));
    expect(expired).toBe(10_000);
    const records = (await store.auditRecordsAfter(0, 100, { types: ['envelope.expired'] })).map((r) => r.details.count);
    expect(records).toEqual([5000, 5000]);
    expect(await store.queuedTotal()).toBe(2000);
  }, 120_000);
});
