/**
 * Issue 15/17, the SIEM stream with several relay instances: one instance streams at a time (a job lock), and
 * the cursor (the last record the receiver accepted, with its hash) is shared here, so that the next one to
 * stream goes on from it instead of sending the log again from its own data directory's cursor.
 */
export const name = 'siem-cursor';

export const up = `
CREATE TABLE siem_cursor (
  id SMALLINT PRIMARY KEY CHECK (id = 1),
  seq BIGINT NOT NULL,
  hash TEXT,
  -- The turn that may move it (a token each instance draws when it starts streaming): an instance whose turn
  -- ended while a batch was in flight cannot set the cursor back under the one streaming now.
  owner TEXT
);
`;
