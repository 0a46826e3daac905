/**
 * Issue 20, attachments: encrypted blobs (ciphertext only; the key is in the end-to-end message), their bytes in
 * chunks as uploaded (`start_at`: the offset of the chunk's first byte), the accounts whose devices may fetch
 * them, and which devices are to fetch each and have (deleted once all have, after a grace period).
 */
export const name = 'attachment-blobs';

export const up = `
CREATE TABLE blobs (
  id TEXT PRIMARY KEY,
  owner_user TEXT NOT NULL,
  owner_device INTEGER NOT NULL,
  size INTEGER NOT NULL CHECK (size > 0),
  sha256 TEXT NOT NULL,
  received INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  touched_at INTEGER NOT NULL,
  completed_at INTEGER,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX blobs_owner ON blobs (owner_user);
CREATE INDEX blobs_expiry ON blobs (expires_at);
CREATE TABLE blob_chunks (
  blob_id TEXT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
  start_at INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (blob_id, start_at)
) STRICT;
CREATE TABLE blob_readers (
  blob_id TEXT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL,
  PRIMARY KEY (blob_id, user_id)
) STRICT;
CREATE TABLE blob_fetches (
  blob_id TEXT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL,
  device_id INTEGER NOT NULL,
  fetched_at INTEGER,
  PRIMARY KEY (blob_id, user_id, device_id)
) STRICT;
`;
