/**
 * The PostgreSQL store's attachment blobs (BlobStore.ts), shared by every relay instance: an upload may
 * resume on another instance, and any instance serves the download. Each mutation is one transaction with its
 * audit records; the quota check locks the owner's account row, so two uploads at once are counted in turn.
 */
import type pg from 'pg';
import type { DeviceAddress, UserId } from '../../../shared/ids';
import type { AuditEvent } from '../../audit/AuditRecord';
import type { BlobDeletion, BlobExpiry, BlobRecord, BlobStore, EndedLadder, NewBlob } from '../BlobStore';
import { ENDED_LADDERS_SQL, blobsToExpire, toBlobRecord, toEndedLadders, type BlobRow } from '../blobRows';
import type { PostgresDatabase } from './PostgresDatabase';

/** One chunk per query while streaming a range: a download holds one chunk in memory at a time (SqliteBlobs.ts). */
const CHUNKS_PER_READ = 1;

export class PostgresBlobs implements BlobStore {
  readonly #db: PostgresDatabase;
  readonly #appendAudit: (client: pg.PoolClient, events: readonly AuditEvent[]) => Promise<void>;

  constructor(db: PostgresDatabase, appendAudit: (client: pg.PoolClient, events: readonly AuditEvent[]) => Promise<void>) {
    this.#db = db;
    this.#appendAudit = appendAudit;
  }

  async createBlob(blob: NewBlob, quotaBytes: number): Promise<boolean> {
    return this.#db.transaction(async (client) => {
      await client.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [blob.owner.userId]);
      const held = Number((await client.query<{ n: string | null }>('SELECT sum(size) AS n FROM blobs WHERE owner_user = $1', [blob.owner.userId])).rows[0]?.n ?? 0);
      if (held + blob.size > quotaBytes) return false;
      await client.query(
        'INSERT INTO blobs (id, owner_user, owner_device, size, sha256, received, created_at, touched_at, expires_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $6, $7)',
        [blob.id, blob.owner.userId, blob.owner.deviceId, blob.size, blob.sha256, blob.createdAt, blob.expiresAt],
      );
      const readers = [...new Set(blob.readers)];
      if (readers.length > 0) await client.query('INSERT INTO blob_readers (blob_id, user_id) SELECT $1, unnest($2::text[])', [blob.id, readers]);
      if (blob.ladder) {
        await client.query('INSERT INTO blob_readers (blob_id, user_id, ladder_message) SELECT $1, unnest($2::text[]), $3 ON CONFLICT DO NOTHING', [blob.id, [...new Set(blob.ladder.readers)], blob.ladder.messageId]);
      }
      return true;
    });
  }

  async blob(id: string): Promise<BlobRecord | undefined> {
    const row = (await this.#db.query<BlobRow>('SELECT * FROM blobs WHERE id = $1', [id])).rows[0];
    return row && toBlobRecord(row);
  }

  async appendChunk(id: string, offset: number, data: Uint8Array, at: number): Promise<number | 'mismatch'> {
    return this.#db.transaction(async (client) => {
      const row = (await client.query<{ received: string; size: string; completed_at: string | null }>('SELECT received, size, completed_at FROM blobs WHERE id = $1 FOR UPDATE', [id])).rows[0];
      if (!row || row.completed_at !== null || Number(row.received) !== offset || offset + data.length > Number(row.size)) return 'mismatch';
      await client.query('INSERT INTO blob_chunks (blob_id, start_at, data) VALUES ($1, $2, $3)', [id, offset, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
      await client.query('UPDATE blobs SET received = $2, touched_at = $3 WHERE id = $1', [id, offset + data.length, at]);
      return offset + data.length;
    });
  }

  async *readRange(id: string, from: number, to: number): AsyncIterable<Uint8Array> {
    let next = Number((await this.#db.query<{ s: string | null }>('SELECT max(start_at) AS s FROM blob_chunks WHERE blob_id = $1 AND start_at <= $2', [id, from])).rows[0]?.s ?? 0);
    while (next < to) {
      const rows = (await this.#db.query<{ start_at: string; data: Buffer }>('SELECT start_at, data FROM blob_chunks WHERE blob_id = $1 AND start_at >= $2 AND start_at < $3 ORDER BY start_at LIMIT $4', [id, next, to, CHUNKS_PER_READ])).rows;
      if (rows.length === 0) return;
      for (const row of rows) {
        const start = Number(row.start_at);
        yield row.data.subarray(Math.max(0, from - start), Math.min(row.data.length, to - start));
        next = start + row.data.length;
      }
    }
  }

  async completeBlob(id: string, at: number, audit: readonly AuditEvent[]): Promise<void> {
    await this.#db.transaction(async (client) => {
      if ((await client.query('UPDATE blobs SET completed_at = $2, touched_at = $2 WHERE id = $1 AND completed_at IS NULL AND received = size', [id, at])).rowCount !== 1) return;
      await client.query(
        `INSERT INTO blob_fetches (blob_id, user_id, device_id)
         SELECT $1, d.user_id, d.device_id FROM devices d JOIN blobs b ON b.id = $1
         WHERE d.revoked_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > $2)
           AND (d.user_id = b.owner_user OR d.user_id IN (SELECT user_id FROM blob_readers WHERE blob_id = $1))
           AND NOT (d.user_id = b.owner_user AND d.device_id = b.owner_device)
         ON CONFLICT DO NOTHING`,
        [id, at],
      );
      await this.#appendAudit(client, audit);
    });
  }

  async addReaders(id: string, readers: readonly UserId[], maxReaders: number, at: number, audit: (added: number) => readonly AuditEvent[]): Promise<number | 'tooMany'> {
    return this.#db.transaction(async (client) => {
      const blob = (await client.query<{ completed_at: string | null }>('SELECT completed_at FROM blobs WHERE id = $1 FOR UPDATE', [id])).rows[0];
      if (!blob) return 0;
      const known = (await client.query<{ user_id: string }>('SELECT user_id FROM blob_readers WHERE blob_id = $1', [id])).rows.map((r) => r.user_id);
      if (new Set([...known, ...readers]).size > maxReaders) return 'tooMany';
      // Named now for the message itself: no longer readers for a ladder's rung alone.
      await client.query('UPDATE blob_readers SET ladder_message = NULL WHERE blob_id = $1 AND user_id = ANY($2::text[])', [id, [...new Set(readers)]]);
      const added = (await client.query<{ user_id: string }>(
        'INSERT INTO blob_readers (blob_id, user_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING RETURNING user_id', [id, [...new Set(readers)]],
      )).rows.map((r) => r.user_id);
      if (added.length === 0) return 0;
      // Completed already: its deletion after every fetch waits for the new readers' devices too (SqliteBlobs.ts).
      if (blob.completed_at !== null) {
        await client.query(
          `INSERT INTO blob_fetches (blob_id, user_id, device_id)
           SELECT $1, user_id, device_id FROM devices WHERE user_id = ANY($2::text[]) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3)
           ON CONFLICT DO NOTHING`,
          [id, added, at],
        );
      }
      await this.#appendAudit(client, audit(added.length));
      return added.length;
    });
  }

  async endLadderReaders(owner: UserId, messageId: string, released: readonly UserId[], audit: (blobId: string, removed: number) => AuditEvent): Promise<number> {
    return this.#db.transaction(async (client) => {
      // The owner's blobs of that ladder, locked as addReaders locks them.
      const blobs = (await client.query<{ id: string }>(
        'SELECT b.id FROM blobs b WHERE b.owner_user = $1 AND EXISTS (SELECT 1 FROM blob_readers r WHERE r.blob_id = b.id AND r.ladder_message = $2) ORDER BY b.id FOR UPDATE',
        [owner, messageId],
      )).rows.map((r) => r.id);
      if (blobs.length === 0) return 0;
      await client.query('UPDATE blob_readers SET ladder_message = NULL WHERE blob_id = ANY($1::text[]) AND ladder_message = $2 AND user_id = ANY($3::text[])', [blobs, messageId, released]);
      const removed = (await client.query<{ blob_id: string; user_id: string }>(
        'DELETE FROM blob_readers WHERE blob_id = ANY($1::text[]) AND ladder_message = $2 RETURNING blob_id, user_id', [blobs, messageId],
      )).rows;
      const counts = new Map<string, number>();
      for (const { blob_id: id, user_id: user } of removed) {
        await client.query('DELETE FROM blob_fetches WHERE blob_id = $1 AND user_id = $2', [id, user]);
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      for (const [id, count] of counts) await this.#appendAudit(client, [audit(id, count)]);
      return removed.length;
    });
  }

  async endedLadders(): Promise<EndedLadder[]> {
    return toEndedLadders((await this.#db.query<{ owner: string; message: string; released: string | null }>(ENDED_LADDERS_SQL)).rows);
  }

  async mayRead(id: string, reader: DeviceAddress): Promise<boolean> {
    const rows = await this.#db.query(
      'SELECT 1 FROM blobs b WHERE b.id = $1 AND (b.owner_user = $2 OR EXISTS (SELECT 1 FROM blob_readers r WHERE r.blob_id = b.id AND r.user_id = $2))',
      [id, reader.userId],
    );
    return rows.rows.length > 0;
  }

  async recordFetch(id: string, reader: DeviceAddress, at: number, audit: readonly AuditEvent[]): Promise<void> {
    await this.#db.transaction(async (client) => {
      const noted = await client.query(
        `INSERT INTO blob_fetches (blob_id, user_id, device_id, fetched_at) SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM blobs WHERE id = $1)
         ON CONFLICT (blob_id, user_id, device_id) DO UPDATE SET fetched_at = excluded.fetched_at WHERE blob_fetches.fetched_at IS NULL`,
        [id, reader.userId, reader.deviceId, at],
      );
      if (noted.rowCount === 1) await this.#appendAudit(client, audit);
    });
  }

  async deleteBlob(id: string, audit: readonly AuditEvent[]): Promise<boolean> {
    return this.#db.transaction(async (client) => {
      if ((await client.query('DELETE FROM blobs WHERE id = $1', [id])).rowCount !== 1) return false;
      await this.#appendAudit(client, audit);
      return true;
    });
  }

  async expireBlobs(rules: BlobExpiry, audit: (blob: BlobRecord, reason: BlobDeletion) => AuditEvent): Promise<number> {
    const candidates = (await this.#db.query<BlobRow & { waiting: string; last_fetch: string | null }>(
      `SELECT b.*,
         (SELECT count(*) FROM blob_fetches f JOIN devices d ON d.user_id = f.user_id AND d.device_id = f.device_id
           WHERE f.blob_id = b.id AND f.fetched_at IS NULL AND d.revoked_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > $1)) AS waiting,
         (SELECT max(fetched_at) FROM blob_fetches f WHERE f.blob_id = b.id) AS last_fetch
       FROM blobs b
       WHERE b.expires_at <= $1 OR (b.completed_at IS NULL AND b.touched_at <= $2) OR (b.completed_at IS NOT NULL AND b.completed_at <= $3)`,
      [rules.now, rules.now - rules.abandonedAfterMs, rules.now - rules.fetchedGraceMs],
    )).rows;
    let deleted = 0;
    for (const { blob, reason } of blobsToExpire(candidates, rules)) {
      if (await this.deleteBlob(blob.id, [audit(blob, reason)])) deleted += 1;
    }
    return deleted;
  }

  async bytesHeldBy(userId: UserId): Promise<number> {
    return Number((await this.#db.query<{ n: string | null }>('SELECT sum(size) AS n FROM blobs WHERE owner_user = $1', [userId])).rows[0]?.n ?? 0);
  }
}
