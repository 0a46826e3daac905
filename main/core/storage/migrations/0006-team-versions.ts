/**
 * - A care team keeps the members of the version its current one replaced, so two changes made at once
 *   (same version number) are judged against the same members on every device, whatever order they arrive in.
 * - Our own messages record whom they were sent to (their state is "read" when those have read them,
 *   whoever joins later) and why a send failed for good.
 * - 1:1 conversations that hold only our own messages are filled in from their receipts.
 */
export const name = 'team-versions';

export const up = `
ALTER TABLE conversations ADD COLUMN prev_members TEXT NOT NULL DEFAULT '[]';
ALTER TABLE messages ADD COLUMN recipients TEXT;
ALTER TABLE messages ADD COLUMN send_failed TEXT;

INSERT OR IGNORE INTO conversations (id, kind, peer, created_at)
  SELECT m.conversation_id, 'direct', min(r.user_id), min(m.sent_at) FROM messages m JOIN receipts r ON r.message_id = m.id
  WHERE m.sender_user = coalesce((SELECT value FROM secrets WHERE name = 'userId'), '')
  GROUP BY m.conversation_id;
`;
