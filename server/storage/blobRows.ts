import { DeviceIdSchema, UserIdSchema } from '../../shared/ids';
import type { BlobDeletion, BlobExpiry, BlobRecord } from './BlobStore';

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
