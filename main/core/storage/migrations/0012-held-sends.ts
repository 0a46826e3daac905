/**
 * Issue 20 with issue 19: a message with attachments waits for its uploads before it goes. Until then, how the
 * clinician asked it to go (the conversation's kind, urgent with its reason and escalation ladder, the reply) is
 * kept here, in the encrypted profile, so that a restart between the upload and the release still sends it so.
 * The row goes when the message goes (or is cancelled), and with the message (retention, wipe).
 */
export const name = 'held-sends';

export const up = `
CREATE TABLE held_sends (
  message_id TEXT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
  plan TEXT NOT NULL,
  held_at INTEGER NOT NULL
) STRICT;
`;
