/** Delivery and read receipts: which user has received or read which of our messages, and when. */
export const name = 'receipts';

export const up = `
CREATE TABLE receipts (
  message_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('delivered', 'read')),
  at INTEGER NOT NULL,
  PRIMARY KEY (message_id, user_id, kind)
) STRICT;
`;
