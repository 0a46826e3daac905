/**
 * Issue 19, urgent messages: the reason an urgent message gives (from the policy's list), the escalation a
 * released rung carries (whose acknowledgement it waited for, and how long), the signed acknowledgements
 * received or made (kept with their signature, for a dispute), and the escalation ladders this device's own
 * urgent messages carry, with the progress the relay last reported. Urgent messages read before this version
 * closed their loop by being read, as that version had it: they are not reminded of again.
 */
export const name = 'acknowledgements';

export const up = `
ALTER TABLE messages ADD COLUMN urgent_reason TEXT;
ALTER TABLE messages ADD COLUMN escalation TEXT;
ALTER TABLE messages ADD COLUMN acknowledgement_expected INTEGER NOT NULL DEFAULT 1;
UPDATE messages SET acknowledgement_expected = 0 WHERE urgent = 1 AND read_at IS NOT NULL;
CREATE TABLE acknowledgements (
  message_id TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  sender_user TEXT NOT NULL,
  acknowledger_user TEXT NOT NULL,
  acknowledger_device INTEGER NOT NULL,
  acknowledged_at INTEGER NOT NULL,
  signature TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  reported_at INTEGER,
  PRIMARY KEY (message_id, acknowledger_user)
) STRICT;
CREATE TABLE escalation_ladders (
  message_id TEXT PRIMARY KEY,
  escalation_id TEXT NOT NULL,
  rungs TEXT NOT NULL,
  payload TEXT NOT NULL,
  submitted_at INTEGER,
  progress TEXT
) STRICT;
`;
