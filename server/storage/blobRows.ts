import { DeviceIdSchema, MessageIdSchema, UserIdSchema, type MessageId, type UserId } from '../../shared/ids';

import type { BlobDeletion, BlobExpiry, BlobRecord, EndedLadder } from './BlobStore';

/** A `blobs` row as both stores read it (PostgreSQL's BIGINTs arrive as strings). */
export interface BlobRow {
  id: string;
  owner_user: string;
  owner_device: number;
  size: number | string;
  sha256: string;
  received: number | string;
  created_at: number | string;
  completed_at: number | string | null;
  expires_at: number | string;
}

export function toBlobRecord(r: BlobRow): BlobRecord {
  return {
    id: r.id,
    owner: { userId: UserIdSchema.parse(r.owner_user), deviceId: DeviceIdSchema.parse(r.owner_device) },
    size: Number(r.size),
    sha256: r.sha256,
    received: Number(r.received),
    completedAt: r.completed_at === null ? null : Number(r.completed_at),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
  };
}

/**
 * Of the candidates the housekeeping query found, those to delete and why: past their expiry (`retention`), an
 * upload left unfinished (`abandoned`), or complete with no device still to fetch it and the last fetch (or the
 * completion) older than the grace period (`fetched`).
 */
export function blobsToExpire(rows: readonly (BlobRow & { waiting: number | string; last_fetch: number | string | null })[], rules: BlobExpiry): { blob: BlobRecord; reason: BlobDeletion }[] {
  const out: { blob: BlobRecord; reason: BlobDeletion }[] = [];
  for (const row of rows) {
    const blob = toBlobRecord(row);
    if (blob.expiresAt <= rules.now) out.push({ blob, reason: 'retention' });
    else if (blob.completedAt === null) out.push({ blob, reason: 'abandoned' });
    else if (Number(row.waiting) === 0 && Math.max(blob.completedAt, Number(row.last_fetch ?? 0)) <= rules.now - rules.fetchedGraceMs) out.push({ blob, reason: 'fetched' });
  }
  return out;
}

/**
 * Readers still named for a ladder alone whose ladder has stopped (acknowledged, or held stopped): one row per rung that
 * went (`released`: its recipients, JSON) or one with `released` null. Plain SQL both stores run as it is.
 */
export const ENDED_LADDERS_SQL = `SELECT DISTINCT b.owner_user AS owner, r.ladder_message AS message, g.recipients AS released
  FROM blob_readers r
  JOIN blobs b ON b.id = r.blob_id
  JOIN escalations e ON e.message_id = r.ladder_message AND e.sender_user = b.owner_user AND e.acknowledged_at IS NOT NULL
  LEFT JOIN escalation_rungs g ON g.escalation_id = e.id AND g.released_at IS NOT NULL
  WHERE r.ladder_message IS NOT NULL`;

/** ENDED_LADDERS_SQL's rows, one per ladder's message with whom its released rungs reached. */
export function toEndedLadders(rows: readonly { owner: string; message: string; released: string | null }[]): EndedLadder[] {
  const ladders = new Map<string, { owner: UserId; messageId: MessageId; released: Set<UserId> }>();
  for (const row of rows) {
    const key = `${row.owner} ${row.message}`;
    const ladder = ladders.get(key) ?? { owner: UserIdSchema.parse(row.owner), messageId: MessageIdSchema.parse(row.message), released: new Set<UserId>() };
    ladders.set(key, ladder);
    for (const user of row.released === null ? [] : (JSON.parse(row.released) as string[])) ladder.released.add(UserIdSchema.parse(user));
  }
  return [...ladders.values()].map((l) => ({ owner: l.owner, messageId: l.messageId, released: [...l.released] }));
}
