/**
 * Issue 19, acknowledgement and escalation: the signed acknowledgements the relay has recorded (one per message
 * and acknowledging account), and the escalation ladders it holds for urgent messages: each rung's due time,
 * whom it goes to, and its envelopes (ciphertext the relay cannot read) until released into the queues or
 * cancelled by an acknowledgement. Release and mark happen in one transaction.
 */
export const name = 'escalations';

export const up = `
CREATE TABLE acknowledgements (
  message_id TEXT NOT NULL,
  sender_user TEXT NOT NULL,
  acknowledger_user TEXT NOT NULL,
  acknowledger_device INTEGER NOT NULL,
  acknowledged_at INTEGER NOT NULL,
  recorded_at INTEGER NOT NULL,
  signature TEXT NOT NULL,
  PRIMARY KEY (message_id, sender_user, acknowledger_user)
) STRICT;
CREATE TABLE escalations (
  id TEXT PRIMARY KEY,
  message_id TEXT NOT NULL,
  sender_user TEXT NOT NULL,
  sender_device INTEGER NOT NULL,
  recipients TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  acknowledged_at INTEGER,
  acknowledged_by TEXT
) STRICT;
CREATE INDEX escalations_message ON escalations (message_id, sender_user);
CREATE INDEX escalations_sender ON escalations (sender_user);
CREATE TABLE escalation_rungs (
  escalation_id TEXT NOT NULL REFERENCES escalations (id) ON DELETE CASCADE,
  rung INTEGER NOT NULL,
  due_at INTEGER NOT NULL,
  recipients TEXT NOT NULL,
  released_at INTEGER,
  cancelled_at INTEGER,
  PRIMARY KEY (escalation_id, rung)
) STRICT;
CREATE INDEX escalation_rungs_due ON escalation_rungs (due_at) WHERE released_at IS NULL AND cancelled_at IS NULL;
CREATE TABLE escalation_envelopes (
  escalation_id TEXT NOT NULL,
  rung INTEGER NOT NULL,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  recipient_user TEXT NOT NULL,
  recipient_device INTEGER NOT NULL,
  content TEXT NOT NULL,
  PRIMARY KEY (escalation_id, rung, id),
  FOREIGN KEY (escalation_id, rung) REFERENCES escalation_rungs (escalation_id, rung) ON DELETE CASCADE
) STRICT;
CREATE INDEX escalation_envelopes_recipient ON escalation_envelopes (recipient_user, recipient_device);
`;
