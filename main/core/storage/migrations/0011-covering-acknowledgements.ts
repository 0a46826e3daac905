/**
 * Issue 19, coverage: an acknowledgement made by the colleague covering for a recipient (from the forwarding copy
 * they got) names whom they covered for; the name is part of what was signed, so it is kept to verify it again.
 * An acknowledgement the message's sender passed on, signed by a workstation this one has no identity key for,
 * could not be verified here: `vouched_by` names the sender whose word it is (null: verified here). A ladder
 * handed to the relay keeps where each of its rungs went (`placement`: the relay's rung number, or why none was
 * held: its people had the message already, or had no workstation), so the progress shown stays in step.
 *
 * Acknowledgements are kept by message id, the message's sender and the acknowledger: copies name their original by
 * id, and a colleague's copy naming another sender's message id must not stand for (or block) an acknowledgement of
 * that message.
 */
export const name = 'covering-acknowledgements';

export const up = `
CREATE TABLE acknowledgements_by_sender (
  message_id TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  sender_user TEXT NOT NULL,
  acknowledger_user TEXT NOT NULL,
  acknowledger_device INTEGER NOT NULL,
  acknowledged_at INTEGER NOT NULL,
  signature TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  reported_at INTEGER,
  covering_for TEXT,
  vouched_by TEXT,
  PRIMARY KEY (message_id, sender_user, acknowledger_user)
) STRICT;
INSERT INTO acknowledgements_by_sender (message_id, conversation_id, sender_user, acknowledger_user, acknowledger_device, acknowledged_at, signature, received_at, reported_at)
  SELECT message_id, conversation_id, sender_user, acknowledger_user, acknowledger_device, acknowledged_at, signature, received_at, reported_at FROM acknowledgements;
DROP TABLE acknowledgements;
ALTER TABLE acknowledgements_by_sender RENAME TO acknowledgements;
ALTER TABLE escalation_ladders ADD COLUMN placement TEXT;
`;
