/**
 * A colleague's acknowledgement of the sender's own message, covering for someone away, may reach one of the
 * sender's other workstations before the copy that workstation forwarded to them does: until then it cannot
 * tell the colleague was reached, and refuses it. Such refusals are kept here for a while (bounded), and checked
 * again when the copy arrives. Rows are the signed statement as received, and who it came from.
 */
export const name = 'acknowledgements-set-aside';

export const up = `
CREATE TABLE acknowledgements_set_aside (
  signature TEXT PRIMARY KEY,
  message_id TEXT NOT NULL,
  sender_user TEXT NOT NULL,
  payload TEXT NOT NULL,
  from_user TEXT NOT NULL,
  from_device INTEGER NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE INDEX acknowledgements_set_aside_by_message ON acknowledgements_set_aside (sender_user, message_id);
`;
