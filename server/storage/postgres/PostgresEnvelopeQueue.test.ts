import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../../test/fixtures/postgres';
import type { DeviceAddress, DeviceId, EnvelopeId, UserId } from '../../../shared/ids';
import type { AuditEvent } from '../../audit/AuditRecord';
import type { NewEnvelope, QueueLimits } from '../RelayStore';
import { ciphertextBytes } from '../queueBatches';
import { PostgresDatabase } from './PostgresDatabase';
import { PostgresEnvelopeQueue } from './PostgresEnvelopeQueue';

/*
 * Issue 17: the envelope queues on PostgreSQL, written by several relay instances at once. The limits and
 * shares hold across instances, a revocation racing sends leaves nothing queued, and a recipient removes
 * only what is its own.
 */
const unavailable = postgresUnavailable();
const ROOMY: QueueLimits = { maxEnvelopes: 1000, maxBytes: 1 << 30, maxEnvelopesPerSender: 1000, maxBytesPerSender: 1 << 30 };
const accepted = (e: NewEnvelope): AuditEvent => ({ type: 'envelope.accepted', actor: 'test', subject: e.id, details: {} });

describe.skipIf(unavailable !== null)('envelope queues on PostgreSQL', () => {
  let server: TestPostgres;
  let instances: PostgresDatabase[];
  const queue = new PostgresEnvelopeQueue();

  beforeAll(async () => {
    server = await startPostgres();
    const url = await server.newDatabase();
    instances = [0, 1].map(() => PostgresDatabase.connect({ url, password: server.password }));
    await instances[0]!.migrate();
  });
  afterAll(async () => {
    await Promise.all((instances ?? []).map((db) => db.close()));
    await server?.stop();
  });

  /** An active account with one device, written straight into the tables. */
  async function device(): Promise<DeviceAddress> {
    const userId = randomUUID() as UserId;
    await instances[0]!.pool.query(`INSERT INTO users (id, username, display_name, role, status, created_at, last_active_at) VALUES ($1, $1, 'Test', 'clinician', 'active', 0, 0)`, [userId]);
    await instances[0]!.pool.query(`INSERT INTO devices (user_id, device_id, name, credential_hash, created_at, last_seen_at, registration_id, identity_key, signed_prekey, last_resort_kyber) VALUES ($1, 1, 'ws', 'h', 0, 0, 1, 'k', 's', 'q')`, [userId]);
    return { userId, deviceId: 1 as DeviceId };
  }
  const envelope = (sender: DeviceAddress, recipient: DeviceAddress, content = 'AAAA'): NewEnvelope => ({ id: randomUUID() as EnvelopeId, type: 'whisper', sender, recipient, content, acceptedAt: 1 });
  /** Sends one request through instance `i % 2`, in a transaction of its own, as a relay would. */
  const send = (i: number, envelopes: NewEnvelope[], limits = ROOMY) => instances[i % 2]!.transaction((client) => queue.enqueueIn(client, envelopes, accepted, limits, []));

  it("holds a queue's limit and each sender's share across instances racing", async () => {
    const bob = await device();
    const senders = await Promise.all(Array.from({ length: 6 }, () => device()));
    const limits: QueueLimits = { maxEnvelopes: 10, maxBytes: 1 << 30, maxEnvelopesPerSender: 3, maxBytesPerSender: 1 << 30 };
    const outcomes = (await Promise.all(senders.flatMap((s, k) => Array.from({ length: 4 }, (_, i) => send(k + i, [envelope(s, bob)], limits))))).flat();
    expect(outcomes.filter((o) => o === 'queued')).toHaveLength(10);
    const held = await queue.queued(instances[1]!.pool, bob, 0, 100);
    expect(held).toHaveLength(10);
    const perSender = new Map<string, number>();
    for (const e of held) perSender.set(e.sender.userId, (perSender.get(e.sender.userId) ?? 0) + 1);
    expect(Math.max(...perSender.values())).toBeLessThanOrEqual(3);
    // The counts the triggers keep agree with what is queued, its bytes as the relay counts them.
    const total = (await instances[0]!.pool.query(`SELECT envelopes::int AS n, bytes::int AS b FROM queue_shares WHERE user_id = $1 AND sender_user = ''`, [bob.userId])).rows[0];
    expect(total).toEqual({ n: 10, b: 10 * ciphertextBytes('AAAA') });
  });

  it('queues nothing for a device revoked while sends race it on both instances', async () => {
    const [alice, bob] = [await device(), await device()];
    const revoke = instances[1]!.transaction(async (client) => {
      await client.query('UPDATE devices SET revoked_at = 1 WHERE user_id = $1 AND device_id = $2', [bob.userId, bob.deviceId]);
      await client.query('DELETE FROM envelopes WHERE recipient_user = $1 AND recipient_device = $2', [bob.userId, bob.deviceId]);
    });
    const outcomes = (await Promise.all([...Array.from({ length: 20 }, (_, i) => send(i, [envelope(alice, bob)])), revoke])).slice(0, 20).flat();
    expect(outcomes.every((o) => o === 'queued' || o === 'deviceGone')).toBe(true);
    expect(await queue.queued(instances[0]!.pool, bob, 0, 100)).toEqual([]);
    expect(await send(0, [envelope(alice, bob)])).toEqual(['deviceGone']);
  });

  it('takes a resend, refuses a reused id, and removes only what the recipient acknowledges', async () => {
    const [alice, bob, carol] = [await device(), await device(), await device()];
    const first = envelope(alice, bob);
    expect(await send(0, [first])).toEqual(['queued']);
    expect(await send(1, [first])).toEqual(['alreadyQueued']);
    expect(await send(0, [{ ...first, content: 'BBBB' }])).toEqual(['idTaken']);
    const audit: AuditEvent[] = [];
    const ack = (who: DeviceAddress) => instances[1]!.transaction((client) => queue.acknowledgeIn(client, who, [first.id], (id) => ({ type: 'envelope.delivered', actor: 'test', subject: id, details: {} }), audit));
    expect(await ack(carol)).toEqual([]);
    expect(await ack(bob)).toEqual([first.id]);
    expect(audit.map((a) => a.subject)).toEqual([first.id]);
    expect(await queue.queued(instances[0]!.pool, bob, 0, 10)).toEqual([]);
    // An emptied queue leaves no counts behind.
    expect((await instances[0]!.pool.query('SELECT count(*)::int AS n FROM queue_shares WHERE user_id = $1', [bob.userId])).rows[0]).toEqual({ n: 0 });
  });

  it('refuses an id another instance queued while a send waited, and keeps the rest of that send', async () => {
    const [alice, bob, carol] = [await device(), await device(), await device()];
    const taken = envelope(alice, carol);
    const mine = [{ ...envelope(alice, bob), id: taken.id }, envelope(alice, bob)];
    let racing: Promise<unknown> | undefined;
    // Instance 1 queues the id (for another device) and commits only once instance 0's insert waits on it:
    // instance 0 looked the id up before, found nothing, and meets it only in the id index.
    await instances[1]!.transaction(async (client) => {
      expect(await queue.enqueueIn(client, [taken], accepted, ROOMY, [])).toEqual(['queued']);
      racing = send(0, mine);
      while ((await instances[1]!.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO envelopes%'`)).rows[0].n === 0) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    });
    expect(await racing).toEqual(['idTaken', 'queued']);
    expect((await queue.queued(instances[0]!.pool, bob, 0, 10)).map((e) => e.id)).toEqual([mine[1]!.id]);
    expect((await queue.queued(instances[0]!.pool, carol, 0, 10)).map((e) => e.content)).toEqual([taken.content]);
    const total = (await instances[0]!.pool.query(`SELECT envelopes::int AS n FROM queue_shares WHERE user_id = $1 AND sender_user = ''`, [bob.userId])).rows[0];
    expect(total).toEqual({ n: 1 });
  });

  it('refuses a device\'s envelopes of one request together when they do not all fit, and expires by age', async () => {
    const [alice, bob] = [await device(), await device()];
    const limits: QueueLimits = { maxEnvelopes: 2, maxBytes: 1 << 30, maxEnvelopesPerSender: 2, maxBytesPerSender: 1 << 30 };
    expect(await send(0, [envelope(alice, bob), envelope(alice, bob), envelope(alice, bob)], limits)).toEqual(['queueFull', 'queueFull', 'queueFull']);
    expect(await send(1, [{ ...envelope(alice, bob), acceptedAt: -5 }, envelope(alice, bob)], limits)).toEqual(['queued', 'queued']);
    expect(await instances[0]!.transaction((client) => queue.expireIn(client, 0, 100))).toBe(1);
    expect(await send(0, [envelope(alice, bob)], limits)).toEqual(['queued']);
    expect((await queue.queued(instances[1]!.pool, bob, 0, 10)).map((e) => e.seq)).toEqual([...(await queue.queued(instances[1]!.pool, bob, 0, 10)).map((e) => e.seq)].sort((a, b) => a - b));
  });
});
