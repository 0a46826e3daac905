/**
 * Issue 20 with issue 19: a blob's readers named only for the rungs of an urgent message's escalation ladder
 * (`ladder_message`: that message's id; NULL for every other reader). When the ladder is acknowledged before
 * their rung went, they stop being readers, so the blob goes once those who got the message fetched it.
 */
export const name = 'ladder-blob-readers';

export const up = `
ALTER TABLE blob_readers ADD COLUMN ladder_message TEXT;
CREATE INDEX blob_readers_ladder ON blob_readers (ladder_message) WHERE ladder_message IS NOT NULL;
`;
