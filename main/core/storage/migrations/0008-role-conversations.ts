/**
 * Issue 19, role conversations: a conversation with an on-call role ("Cardiology on call") between the
 * clinician who started it and whoever holds the role. Kept beside `conversations` (whose kinds are 1:1 and
 * care team): the role's id and name as last seen, who started it (the id is derived from the two), and the
 * holders the last message went to with when they took the role (the header, and the hand-over lines).
 * A message to or from a role records who held it then and whether that was a hand-over (RoleDelivery, JSON).
 */
export const name = 'role-conversations';

export const up = `
CREATE TABLE role_conversations (
  id TEXT PRIMARY KEY,
  role_id TEXT NOT NULL,
  role_name TEXT NOT NULL,
  initiator TEXT NOT NULL,
  -- JSON: [{ userId, displayName, since }] of the holders the last message went to (or came from).
  holders TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX role_conversations_by_role ON role_conversations (role_id);
ALTER TABLE messages ADD COLUMN role_delivery TEXT;
`;
