/**
 * Conversations (1:1 and care teams), care-team membership, and the contacts the directory named, so the
 * conversation list, titles and names work offline. Existing 1:1 conversations are filled in from the
 * messages received in them.
 */
export const name = 'conversations';

export const up = `
CREATE TABLE conversations (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('direct', 'careTeam')),
  -- 1:1: the other user; care team: null.
  peer TEXT,
  -- Care team: its name, the version of its name and membership, and who made that version.
  title TEXT,
  epoch INTEGER NOT NULL DEFAULT 0,
  epoch_by TEXT,
  -- Care team: whether this user is still a member (a removed member keeps the history, read-only).
  is_member INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  CHECK ((kind = 'direct') = (peer IS NOT NULL))
) STRICT;

CREATE TABLE care_team_members (
  conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL,
  PRIMARY KEY (conversation_id, user_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE contacts (
  user_id TEXT PRIMARY KEY,
  username TEXT NOT NULL,
  display_name TEXT NOT NULL,
  role TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

INSERT OR IGNORE INTO conversations (id, kind, peer, created_at)
  SELECT conversation_id, 'direct', sender_user, min(received_at) FROM messages
  WHERE sender_user != coalesce((SELECT value FROM secrets WHERE name = 'userId'), '')
  GROUP BY conversation_id;

CREATE INDEX messages_by_conversation_time ON messages (conversation_id, received_at);
`;
