/**
 * Issue 20, attachments: each one of a message (in order), with what the conversation shows of it, the key and
 * digest it came with (or was sent with) and where it is on the relay; and its bytes, kept as the encrypted blob
 * itself (AES-256-GCM segments under its own key, inside this SQLCipher database: never a plaintext file), in
 * the chunks they arrived or were made in. Both go with their message (retention, wipe).
 */
export const name = 'attachments';

export const up = `
CREATE TABLE attachments (
  id TEXT PRIMARY KEY,
  message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  outgoing INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  kind TEXT NOT NULL,
  size INTEGER NOT NULL,
  file_name TEXT,
  width INTEGER,
  height INTEGER,
  thumbnail BLOB,
  key BLOB NOT NULL,
  digest TEXT NOT NULL,
  cipher_size INTEGER NOT NULL,
  blob_id TEXT,
  state TEXT NOT NULL,
  transferred INTEGER NOT NULL DEFAULT 0,
  error TEXT,
  scanned TEXT,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX attachments_by_message ON attachments (message_id, position);
CREATE INDEX attachments_by_state ON attachments (state);
CREATE TABLE attachment_bytes (
  attachment_id TEXT NOT NULL REFERENCES attachments(id) ON DELETE CASCADE,
  start_at INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (attachment_id, start_at)
) STRICT;
`;
