/**
 * Issue 20 with issue 19: a message with attachments waits for its uploads before it goes. Until then, how the
 * clinician asked it to go (the conversation's kind, urgent with its reason and escalation ladder, the reply) is
 * kept here, in the encrypted profile, so that a restart between the upload and the release still sends it so.
 * The row goes when the message goes (or is cancelled), and with the message (retention, wipe).
 *
 * A message whose uploads were under way when this version first opened the profile was written by a version that
 * queued it when its last upload ended: it is held here (as it was asked for then: never urgent, which that version
 * refused with files), so that it still goes. Only uploads of this workstation's own (a copy of a message sent
 * from the user's other workstation is outgoing too, but was never uploaded here); a cancelled one failed instead.
 */
export const name = 'held-sends';

export const up = `
CREATE TABLE held_sends (
  message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
  plan TEXT NOT NULL,
  held_at INTEGER NOT NULL
) STRICT;
INSERT INTO held_sends (message_id, plan, held_at)
SELECT m.id,
  CASE WHEN m.reply_to IS NULL THEN json_object('kind', k.kind) ELSE json_object('kind', k.kind, 'replyTo', m.reply_to) END,
  m.sent_at
FROM messages m
JOIN (SELECT m2.id AS id, CASE
    WHEN EXISTS (SELECT 1 FROM role_conversations r WHERE r.id = m2.conversation_id) THEN 'role'
    WHEN EXISTS (SELECT 1 FROM conversations c WHERE c.id = m2.conversation_id AND c.kind = 'careTeam') THEN 'careTeam'
    ELSE 'direct' END AS kind
  FROM messages m2) k ON k.id = m.id
WHERE m.send_failed IS NULL
  AND EXISTS (SELECT 1 FROM attachments a WHERE a.message_id = m.id AND a.outgoing = 1 AND a.state IN ('uploading', 'uploadFailed'))
  AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.message_id = m.id AND a.error = 'ATTACHMENT_CANCELLED');
-- A cancelled upload of that version (which offered to retry it; this one does not): its message failed, as now.
UPDATE messages SET send_failed = 'ATTACHMENT_CANCELLED'
WHERE send_failed IS NULL AND EXISTS (SELECT 1 FROM attachments a WHERE a.message_id = messages.id AND a.outgoing = 1 AND a.error = 'ATTACHMENT_CANCELLED');
`;
