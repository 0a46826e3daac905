import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../../test/fixtures/postgres';
import type { AuditEvent } from '../../audit/AuditRecord';
import { PostgresAuditLog } from './PostgresAuditLog';
import { PostgresDatabase } from './PostgresDatabase';

/*
 * Issue 17: the audit hash chain on PostgreSQL holds under concurrent writers on several relay instances:
 * one order, no fork, no gap, every record hashed as it reads back.
 */
const unavailable = postgresUnavailable();

describe.skipIf(unavailable !== null)('the audit log on PostgreSQL', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  const event = (actor: string, details: AuditEvent['details'] = {}): AuditEvent => ({ type: 'login.failure', actor, subject: '', details });

  it('keeps one chain, in one order with no gap, while three relay instances append at once', async () => {
    const url = await server.newDatabase();
    const instances = Array.from({ length: 3 }, () => PostgresDatabase.connect({ url, password: server.password }));
    const log = new PostgresAuditLog();
    try {
      await instances[0]!.migrate();
      await Promise.all(instances.flatMap((db, i) => Array.from({ length: 20 }, (_, k) =>
        db.transaction((client) => log.append(client, [event(`relay-${i}-${k}-a`), event(`relay-${i}-${k}-b`, { n: k })], 1000 + k)))));
      const records = await log.recordsAfter(instances[1]!.pool, 0, 1000);
      expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
      // Each append's two records are neighbours: no other instance's record between them.
      for (let i = 0; i < records.length; i += 2) expect(records[i + 1]!.actor).toBe(records[i]!.actor.replace(/-a$/, '-b'));
      expect(await log.checkChain(instances[2]!.pool)).toMatchObject({ ok: true, records: 120, head: records.at(-1)!.hash });
    } finally {
      await Promise.all(instances.map((db) => db.close()));
    }
  });

  it('rolls an append back with its transaction, leaving no gap for the next', async () => {
    const db = PostgresDatabase.connect({ url: await server.newDatabase(), password: server.password });
    const log = new PostgresAuditLog();
    try {
      await db.migrate();
      await db.transaction((client) => log.append(client, [event('first')], 1));
      await expect(db.transaction(async (client) => {
        await log.append(client, [event('rolled back')], 2);
        throw new Error('the write it belonged to failed');
      })).rejects.toThrow('the write it belonged to failed');
      await db.transaction((client) => log.append(client, [event('second')], 3));
      expect((await log.recordsAfter(db.pool, 0, 10)).map((r) => [r.seq, r.actor])).toEqual([[1, 'first'], [2, 'second']]);
      expect((await log.checkChain(db.pool)).ok).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('reads pages by time, by type, outside a range and up to a record; hashes text as it reads back', async () => {
    const db = PostgresDatabase.connect({ url: await server.newDatabase(), password: server.password });
    const log = new PostgresAuditLog();
    try {
      await db.migrate();
      await db.transaction((client) => log.append(client, [event('lone \uD800 surrogate', { zeta: 1, alpha: 'x' })], 10));
      await db.transaction((client) => log.append(client, [{ type: 'envelope.accepted', actor: 'a', subject: 'e', details: {} }], 20));
      await db.transaction((client) => log.append(client, [event('late')], 30));
      expect((await log.recordsAfter(db.pool, 0, 10, { from: 15, to: 35 })).map((r) => r.seq)).toEqual([2, 3]);
      expect((await log.recordsAfter(db.pool, 0, 10, { types: ['envelope.accepted'] })).map((r) => r.seq)).toEqual([2]);
      expect((await log.recordsAfter(db.pool, 0, 10, { outside: { from: 15, to: 25 } })).map((r) => r.seq)).toEqual([1, 3]);
      expect((await log.recordsAfter(db.pool, 1, 10, { untilSeq: 2 })).map((r) => r.seq)).toEqual([2]);
      expect((await log.records(db.pool, 0, 25)).map((r) => r.seq)).toEqual([1, 2]);
      const [first] = await log.recordsAfter(db.pool, 0, 1);
      expect(first).toMatchObject({ actor: 'lone \uFFFD surrogate', details: { alpha: 'x', zeta: 1 } });
      expect((await log.checkChain(db.pool)).ok).toBe(true);
      expect(await log.logStart(db.pool)).toEqual({ firstSeq: 1, origin: null });
    } finally {
      await db.close();
    }
  });
});
