/**
 * The embedded store's attachment blobs (BlobStore.ts): rows in the relay's SQLCipher database, each
 * mutation one IMMEDIATE transaction with its audit records.
 */
import type { DeviceAddress, UserId } from '../../../shared/ids';
import type { AuditEvent } from '../../audit/AuditRecord';
import type { BlobDeletion, BlobExpiry, BlobRecord, BlobStore, EndedLadder, NewBlob } from '../BlobStore';
import { ENDED_LADDERS_SQL, blobsToExpire, toBlobRecord, toEndedLadders, type BlobRow } from '../blobRows';
import type { SqliteDatabase } from './SqliteDatabase';

/**
 * Chunks read per query while streaming a range (each at most MAX_BLOB_CHUNK_BYTES): one, so that a download
 * holds one chunk of the blob in memory at a time, whoever reads it and however slowly.
 */
const CHUNKS_PER_READ = 1;

export class SqliteBlobs implements BlobStore {
  readonly #sql: SqliteDatabase;
  readonly #appendAudit: (events: readonly AuditEvent[]) => void;

  constructor(sql: SqliteDatabase, appendAudit: (events: readonly AuditEvent[]) => void) {
    this.#sql = sql;
    this.#appendAudit = appendAudit;
  }

  async createBlob(blob: NewBlob, quotaBytes: number): Promise<boolean> {
    return this.#sql.immediate(() => {
      const held = this.#held(blob.owner.userId);
      if (held + blob.size > quotaBytes) return false;
      this.#sql.run(
        'INSERT INTO blobs (id, owner_user, owner_device, size, sha256, received, created_at, touched_at, expires_at) VALUES ($id, $u, $d, $size, $sha, 0, $at, $at, $exp)',
        { id: blob.id, u: blob.owner.userId, d: blob.owner.deviceId, size: blob.size, sha: blob.sha256, at: blob.createdAt, exp: blob.expiresAt },
      );
      for (const reader of new Set(blob.readers)) this.#sql.run('INSERT INTO blob_readers (blob_id, user_id) VALUES ($id, $u)', { id: blob.id, u: reader });
      for (const reader of new Set(blob.ladder?.readers)) {
        this.#sql.run('INSERT OR IGNORE INTO blob_readers (blob_id, user_id, ladder_message) VALUES ($id, $u, $m)', { id: blob.id, u: reader, m: blob.ladder?.messageId ?? null });
      }
      return true;
    });
  }

  async blob(id: string): Promise<BlobRecord | undefined> {
    const row = this.#sql.get<BlobRow>('SELECT * FROM blobs WHERE id = $id', { id });
    return row && toBlobRecord(row);
  }

  async appendChunk(id: string, offset: number, data: Uint8Array, at: number): Promise<number | 'mismatch'> {
    return this.#sql.immediate(() => {
      const row = this.#sql.get<{ received: number; size: number; completed_at: number | null }>('SELECT received, size, completed_at FROM blobs WHERE id = $id', { id });
      if (!row || row.completed_at !== null || row.received !== offset || offset + data.length > row.size) return 'mismatch';
      this.#sql.run('INSERT INTO blob_chunks (blob_id, start_at, data) VALUES ($id, $at, $data)', { id, at: offset, data: data as Uint8Array<ArrayBuffer> });
      this.#sql.run('UPDATE blobs SET received = $r, touched_at = $now WHERE id = $id', { id, r: offset + data.length, now: at });
      return offset + data.length;
    });
  }

  async *readRange(id: string, from: number, to: number): AsyncIterable<Uint8Array> {
    // The chunk holding `from` (the last one starting at or before it), then those after it, a few at a time.
    let next = this.#sql.get<{ s: number | null }>('SELECT max(start_at) AS s FROM blob_chunks WHERE blob_id = $id AND start_at <= $from', { id, from })?.s ?? 0;
    while (next < to) {
      const rows = this.#sql.all<{ start_at: number; data: Uint8Array }>('SELECT start_at, data FROM blob_chunks WHERE blob_id = $id AND start_at >= $s AND start_at < $to ORDER BY start_at LIMIT $n', { id, s: next, to, n: CHUNKS_PER_READ });
      if (rows.length === 0) return;
      for (const row of rows) {
        const end = row.start_at + row.data.length;
        yield row.data.subarray(Math.max(0, from - row.start_at), Math.min(row.data.length, to - row.start_at));
        next = end;
      }
    }
  }

  async completeBlob(id: string, at: number, audit: readonly AuditEvent[]): Promise<void> {
    this.#sql.immediate(() => {
      if (this.#sql.run('UPDATE blobs SET completed_at = $at, touched_at = $at WHERE id = $id AND completed_at IS NULL AND received = size', { id, at }) === 0) return;
      // Who is to fetch it: every active device of its readers and of its owner's account, but the one that sent it.
      this.#sql.run(
        `INSERT OR IGNORE INTO blob_fetches (blob_id, user_id, device_id)
         SELECT $id, d.user_id, d.device_id FROM devices d JOIN blobs b ON b.id = $id
         WHERE d.revoked_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > $at)
           AND (d.user_id = b.owner_user OR d.user_id IN (SELECT user_id FROM blob_readers WHERE blob_id = $id))
           AND NOT (d.user_id = b.owner_user AND d.device_id = b.owner_device)`,
        { id, at },
      );
      this.#appendAudit(audit);
    });
  }

  async addReaders(id: string, readers: readonly UserId[], maxReaders: number, at: number, audit: (added: number) => readonly AuditEvent[]): Promise<number | 'tooMany'> {
    return this.#sql.immediate(() => {
      const complete = this.#sql.get<{ completed_at: number | null }>('SELECT completed_at FROM blobs WHERE id = $id', { id });
      if (!complete) return 0;
      const known = new Set(this.#sql.all<{ user_id: string }>('SELECT user_id FROM blob_readers WHERE blob_id = $id', { id }).map((r) => r.user_id));
      if (new Set([...known, ...readers]).size > maxReaders) return 'tooMany';
      let added = 0;
      for (const reader of new Set(readers)) {
        // Named now for the message itself: no longer a reader for a ladder's rung alone.
        this.#sql.run('UPDATE blob_readers SET ladder_message = NULL WHERE blob_id = $id AND user_id = $u', { id, u: reader });
        if (this.#sql.run('INSERT OR IGNORE INTO blob_readers (blob_id, user_id) VALUES ($id, $u)', { id, u: reader }) === 0) continue;
        added += 1;
        // Completed already: its deletion after every fetch waits for the new readers' devices too.
        if (complete.completed_at !== null) {
          this.#sql.run(
            `INSERT OR IGNORE INTO blob_fetches (blob_id, user_id, device_id)
             SELECT $id, user_id, device_id FROM devices WHERE user_id = $u AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $at)`,
            { id, u: reader, at },
          );
        }
      }
      if (added > 0) this.#appendAudit(audit(added));
      return added;
    });
  }

  async endLadderReaders(owner: UserId, messageId: string, released: readonly UserId[], audit: (blobId: string, removed: number) => AuditEvent): Promise<number> {
    return this.#sql.immediate(() => {
      const rows = this.#sql.all<{ blob_id: string; user_id: string }>(
        'SELECT r.blob_id, r.user_id FROM blob_readers r JOIN blobs b ON b.id = r.blob_id WHERE r.ladder_message = $m AND b.owner_user = $o',
        { m: messageId, o: owner },
      );
      const removed = new Map<string, number>();
      for (const { blob_id: id, user_id: user } of rows) {
        if (released.includes(user as UserId)) {
          this.#sql.run('UPDATE blob_readers SET ladder_message = NULL WHERE blob_id = $id AND user_id = $u', { id, u: user });
          continue;
        }
        this.#sql.run('DELETE FROM blob_readers WHERE blob_id = $id AND user_id = $u', { id, u: user });
        this.#sql.run('DELETE FROM blob_fetches WHERE blob_id = $id AND user_id = $u', { id, u: user });
        removed.set(id, (removed.get(id) ?? 0) + 1);
      }
      for (const [id, count] of removed) this.#appendAudit([audit(id, count)]);
      return [...removed.values()].reduce((sum, n) => sum + n, 0);
    });
  }

  async endedLadders(): Promise<EndedLadder[]> {
    return toEndedLadders(this.#sql.all(ENDED_LADDERS_SQL));
  }

  async mayRead(id: string, reader: DeviceAddress): Promise<boolean> {
    return this.#sql.get(
      'SELECT 1 FROM blobs b WHERE b.id = $id AND (b.owner_user = $u OR EXISTS (SELECT 1 FROM blob_readers r WHERE r.blob_id = b.id AND r.user_id = $u))',
      { id, u: reader.userId },
    ) !== undefined;
  }

  async recordFetch(id: string, reader: DeviceAddress, at: number, audit: readonly AuditEvent[]): Promise<void> {
    this.#sql.immediate(() => {
      const first = this.#sql.get<{ fetched_at: number | null }>('SELECT fetched_at FROM blob_fetches WHERE blob_id = $id AND user_id = $u AND device_id = $d', { id, u: reader.userId, d: reader.deviceId });
      if (first && first.fetched_at !== null) return;
      // A device added after the upload fetches too: recorded, though the deletion never waited for it.
      this.#sql.run(
        'INSERT INTO blob_fetches (blob_id, user_id, device_id, fetched_at) VALUES ($id, $u, $d, $at) ON CONFLICT (blob_id, user_id, device_id) DO UPDATE SET fetched_at = excluded.fetched_at',
        { id, u: reader.userId, d: reader.deviceId, at },
      );
      this.#appendAudit(audit);
    });
  }

  async deleteBlob(id: string, audit: readonly AuditEvent[]): Promise<boolean> {
    return this.#sql.immediate(() => {
      if (this.#sql.run('DELETE FROM blobs WHERE id = $id', { id }) === 0) return false;
      this.#appendAudit(audit);
      return true;
    });
  }

  async expireBlobs(rules: BlobExpiry, audit: (blob: BlobRecord, reason: BlobDeletion) => AuditEvent): Promise<number> {
    const candidates = this.#sql.all<BlobRow & { waiting: number; last_fetch: number | null }>(
      `SELECT b.*,
         (SELECT count(*) FROM blob_fetches f JOIN devices d ON d.user_id = f.user_id AND d.device_id = f.device_id
           WHERE f.blob_id = b.id AND f.fetched_at IS NULL AND d.revoked_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > $now)) AS waiting,
         (SELECT max(fetched_at) FROM blob_fetches f WHERE f.blob_id = b.id) AS last_fetch
       FROM blobs b
       WHERE b.expires_at <= $now OR (b.completed_at IS NULL AND b.touched_at <= $abandoned) OR (b.completed_at IS NOT NULL AND b.completed_at <= $fetched)`,
      { now: rules.now, abandoned: rules.now - rules.abandonedAfterMs, fetched: rules.now - rules.fetchedGraceMs },
    );
    let deleted = 0;
    for (const { blob, reason } of blobsToExpire(candidates, rules)) {
      if (await this.deleteBlob(blob.id, [audit(blob, reason)])) deleted += 1;
    }
    return deleted;
  }

  async bytesHeldBy(userId: UserId): Promise<number> {
    return this.#held(userId);
  }

  #held(userId: string): number {
    return this.#sql.get<{ n: number | null }>('SELECT sum(size) AS n FROM blobs WHERE owner_user = $u', { u: userId })?.n ?? 0;
  }
}
